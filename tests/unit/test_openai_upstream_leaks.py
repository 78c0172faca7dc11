"""Keys echoed by an `openai` upstream never reach the client or a log, even in part.

Long keys are used on purpose: a cut message could keep the first part of one, and any 12
characters of a key are counted as a leak.
"""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from app import create_app
from tests.support.openai_upstream import CHAT_URL, KEY_ENV, chat_body, models_mapping, sse_body

LONG_SERVER_KEY = (
    "sk-proj-" + "".join(hashlib.sha256(b"s%d" % i).hexdigest() for i in range(3))[:156]
)
LONG_CLIENT_KEY = (
    "sk-user-" + "".join(hashlib.sha256(b"c%d" % i).hexdigest() for i in range(3))[:156]
)
FRAGMENT = 12


def assert_no_fragment(text: str, secret: str) -> None:
    """Fail when `text` holds any `FRAGMENT` characters of `secret` in a row."""
    for start in range(len(secret) - FRAGMENT + 1):
        assert secret[start : start + FRAGMENT] not in text, f"{secret[:12]}… leaked: {text!r}"


def assert_clean(texts: list[str], caplog: pytest.LogCaptureFixture) -> None:
    """No key in part in `texts` or in any log record."""
    logs = [caplog.text, *(record.getMessage() for record in caplog.records)]
    for text in [*texts, *logs]:
        assert_no_fragment(text, LONG_SERVER_KEY)
        assert_no_fragment(text, LONG_CLIENT_KEY)


@pytest.fixture
def gateway(monkeypatch, caplog):
    """A factory of gateways with the long server key; the client sends the long client key."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_ENV, LONG_SERVER_KEY)

    def make(**backend):
        app = create_app(
            {"TESTING": True, "MODELS": models_mapping(backend), "RETRY_BACKOFF_BASE": 0.0}
        )
        client = app.test_client()

        def post(**extra):
            headers = {"Authorization": f"Bearer {LONG_CLIENT_KEY}"}
            return client.post("/v1/chat/completions", json=chat_body(**extra), headers=headers)

        return post

    return make


def rejected(key: str) -> str:
    prefix = "Unauthorized. The API key you supplied was rejected by the upstream proxy"
    return f"{prefix}: {key} (see docs)"


# -- plain-text bodies, cut to a snippet ----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "forward", "expected"),
    [(401, False, 401), (500, False, 502), (401, True, 401), (503, True, 502)],
)
def test_a_key_in_a_long_plain_text_error_is_scrubbed_before_the_cut(
    gateway, upstream, caplog, status, forward, expected
):
    key = LONG_CLIENT_KEY if forward else LONG_SERVER_KEY
    upstream.post(CHAT_URL, body=rejected(key), status=status, content_type="text/plain")
    response = gateway(forward_client_key=forward)()
    assert response.status_code == expected
    message = response.get_json()["error"]["message"]
    assert message == rejected("***")
    assert_clean([response.get_data(as_text=True)], caplog)


def test_the_snippet_is_still_cut_after_scrubbing(gateway, upstream, caplog):
    text = rejected(LONG_SERVER_KEY) + " " + "padding " * 40
    upstream.post(CHAT_URL, body=text, status=400, content_type="text/plain")
    message = gateway()().get_json()["error"]["message"]
    assert message.startswith(rejected("***")) and message.endswith("…")
    assert len(message) == 201
    assert_clean([message], caplog)


@pytest.mark.parametrize("first", [True, False])
def test_a_key_in_a_plain_text_stream_error_event_is_scrubbed(gateway, upstream, caplog, first):
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": []}
    before = b"" if first else sse_body([chunk], done=False)
    body = before + b"event: error\ndata: " + rejected(LONG_SERVER_KEY).encode() + b"\n\n"
    upstream.post(CHAT_URL, body=body, content_type="text/event-stream")
    response = gateway()(stream=True)
    text = response.get_data(as_text=True)
    assert rejected("***") in text
    assert_clean([text], caplog)


# -- param and code -------------------------------------------------------------------------


@pytest.mark.parametrize("forward", [False, True])
def test_param_and_code_of_an_http_error_are_scrubbed(gateway, upstream, caplog, forward):
    key = LONG_CLIENT_KEY if forward else LONG_SERVER_KEY
    error = {"error": {"message": "bad", "param": key, "code": f"key:{key}"}}
    upstream.post(CHAT_URL, json=error, status=400)
    response = gateway(forward_client_key=forward)()
    assert response.status_code == 400
    fields = response.get_json()["error"]
    assert (fields["message"], fields["param"], fields["code"]) == ("bad", "***", "key:***")
    assert_clean([response.get_data(as_text=True)], caplog)


@pytest.mark.parametrize("forward", [False, True])
def test_param_and_code_of_a_stream_error_event_are_scrubbed(gateway, upstream, caplog, forward):
    key = LONG_CLIENT_KEY if forward else LONG_SERVER_KEY
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": []}
    error = {
        "error": {"message": "bad", "type": "invalid_request_error", "param": key, "code": key}
    }
    upstream.post(
        CHAT_URL, body=sse_body([chunk, error], done=False), content_type="text/event-stream"
    )
    response = gateway(forward_client_key=forward)(stream=True)
    text = response.get_data(as_text=True)
    last = json.loads(text.strip().split("\n\n")[-1].removeprefix("data: "))
    assert (last["error"]["param"], last["error"]["code"]) == ("***", "***")
    assert_clean([text], caplog)


def test_a_type_that_is_a_key_gives_way_to_the_status_type(monkeypatch, upstream, caplog):
    # A token that fits the shape of an OpenAI `type`: it must not come back as one.
    token = "lowercasetokenvalue_0123456789"
    monkeypatch.setenv(KEY_ENV, LONG_SERVER_KEY)
    models = models_mapping({"forward_client_key": True})
    client = create_app({"TESTING": True, "MODELS": models}).test_client()
    upstream.post(CHAT_URL, json={"error": {"message": "no", "type": token}}, status=401)
    response = client.post(
        "/v1/chat/completions", json=chat_body(), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.get_json()["error"]["type"] == "invalid_request_error"
    assert token not in response.get_data(as_text=True)
