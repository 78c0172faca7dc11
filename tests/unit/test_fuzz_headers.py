"""Property-based bad headers: content types, API keys (missing, doubled, garbled), request ids.

The gateway here has a client key; every answer and log record goes to the secret scan.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import create_app
from tests.conftest import MOCK_MODELS
from tests.support.fuzz import CHAT, FUZZ, VALID, check_answer, endpoints
from tests.support.secret_scan import CLIENT_SECRET

# Header values a client can put on the wire: visible Latin-1, spaces and tabs.
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80
)
SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
GOOD = f"Bearer {CLIENT_SECRET}"


@pytest.fixture(scope="module")
def client():
    """An app that accepts one client key: the recognisable secret."""
    app = create_app({"TESTING": True, "MODELS": MOCK_MODELS, "GATEWAY_API_KEYS": [CLIENT_SECRET]})
    return app.test_client()


@pytest.fixture(autouse=True)
def _scan(scanned_logs):
    """Every log record of these tests is scanned for the client key."""


def send(client, secret_scan, path: str, headers: list[tuple[str, str]], data=None):
    raw = json.dumps(VALID[path]) if data is None else data
    response = client.post(path, data=raw, headers=headers)
    secret_scan.add(f"{path} answer", response.get_data())
    secret_scan.add(f"{path} headers", response.headers.items())
    return response


@FUZZ
@given(path=endpoints, content_type=header_text)
def test_any_content_type(client, secret_scan, path, content_type):
    headers = [("Authorization", GOOD), ("Content-Type", content_type)]
    response = send(client, secret_scan, path, headers)
    error = check_answer(response)
    mimetype = content_type.split(";")[0].strip().lower()
    if mimetype == "application/json" or mimetype.endswith("+json"):
        assert response.status_code == 200, response.get_data()
    else:
        assert (response.status_code, error.code) == (400, "invalid_content_type")


@FUZZ
@given(path=endpoints, values=st.lists(header_text | st.just(GOOD), max_size=3))
def test_any_authorization_headers(client, secret_scan, path, values):
    headers = [("Content-Type", "application/json")] + [("Authorization", v) for v in values]
    response = send(client, secret_scan, path, headers)
    error = check_answer(response)
    if len(values) == 1 and values[0].strip() == GOOD:
        assert response.status_code == 200
    else:
        # Repeated headers reach the app joined by commas: never a valid key, even if one is.
        # A header that carries no key at all gets OpenAI's answer for that, with code null.
        assert response.status_code == 401
        assert error.code in ("invalid_api_key", None)
        assert (error.code is None) == error.message.startswith("You didn't provide an API key.")
        assert CLIENT_SECRET not in error.message


@FUZZ
@given(
    path=endpoints,
    username=st.just("") | header_text,
    password=st.just(CLIENT_SECRET) | header_text,
)
def test_any_basic_credentials(client, secret_scan, path, username, password):
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    headers = [("Authorization", f"Basic {encoded}"), ("Content-Type", "application/json")]
    response = send(client, secret_scan, path, headers)
    error = check_answer(response)
    # The key is the password, and only with a blank username (as OpenAI reads Basic auth);
    # the first colon ends the username, so ":" in a username moves the rest to the password.
    username, _, password = f"{username}:{password}".partition(":")
    if not username and password == CLIENT_SECRET:
        assert response.status_code == 200
    elif not username and password:
        assert (response.status_code, error.code) == (401, "invalid_api_key")
    else:
        assert (response.status_code, error.code) == (401, None)


@FUZZ
@given(path=endpoints, request_id=header_text)
def test_request_ids_are_sanitised(client, secret_scan, path, request_id):
    headers = [("Authorization", GOOD), ("Content-Type", "application/json")]
    response = send(client, secret_scan, path, [*headers, ("X-Request-ID", request_id)])
    check_answer(response)
    echoed = response.headers["X-Request-ID"]
    assert SAFE_ID.fullmatch(echoed)
    assert echoed == request_id if SAFE_ID.fullmatch(request_id) else echoed.startswith("req_")


def test_a_request_id_cannot_forge_log_lines(client, secret_scan, caplog):
    forged = "abc\r\nINFO forged line"
    headers = [("Authorization", GOOD), ("Content-Type", "application/json")]
    response = client.post(
        CHAT, data=json.dumps(VALID[CHAT]), headers=[*headers, ("X-Request-ID", "a b")]
    )
    assert response.headers["X-Request-ID"].startswith("req_")
    # Werkzeug refuses to send a header value with a line break; the server never sees one.
    with pytest.raises(ValueError):
        client.post(CHAT, headers=[*headers, ("X-Request-ID", forged)])
    assert "forged line" not in caplog.text


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Type", "application/json"), ("Content-Type", "text/plain")],
        [("Content-Type", "text/plain"), ("Content-Type", "application/json")],
        [("Content-Type", "")],
        [],
        [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
        [("Content-Type", "application/json; charset=utf-16")],
        [("Content-Type", "multipart/form-data; boundary=x")],
    ],
)
def test_odd_content_headers(client, secret_scan, headers):
    response = send(client, secret_scan, CHAT, [("Authorization", GOOD), *headers])
    check_answer(response)


def test_a_wrong_key_is_never_echoed(client, secret_scan):
    near = CLIENT_SECRET[:-1] + "X"
    basic = "Basic " + base64.b64encode(f":{near}".encode()).decode()
    for value in (
        f"Bearer {near}",
        near,
        f"Basic {CLIENT_SECRET}",
        f"Bearer {CLIENT_SECRET} x",
        basic,
    ):
        headers = [("Authorization", value), ("Content-Type", "application/json")]
        response = send(client, secret_scan, CHAT, headers)
        error = check_answer(response)
        assert response.status_code == 401 and near not in error.message
