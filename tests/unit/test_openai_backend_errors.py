"""The `openai` backend's errors: upstream statuses and bodies mapped, secrets never shown."""

from __future__ import annotations

import logging

import pytest
import requests
from urllib3.exceptions import ReadTimeoutError

from tests.support.openai_checks import check_error
from tests.support.openai_upstream import (
    CHAT_URL,
    CLIENT_KEY,
    SERVER_KEY,
    chat_body,
    make_app,
)


@pytest.fixture
def client(monkeypatch):
    return make_app(monkeypatch).test_client()


# -- upstream errors ------------------------------------------------------------------------


def openai_error(message, type="invalid_request_error", param=None, code=None):
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            openai_error("Invalid 'temperature'.", param="temperature", code="invalid_value"),
            ("Invalid 'temperature'.", "invalid_request_error", "temperature", "invalid_value"),
        ),
        (
            404,
            openai_error("The model `real-model` does not exist.", code="model_not_found"),
            (
                "The model `real-model` does not exist.",
                "invalid_request_error",
                None,
                "model_not_found",
            ),
        ),
        # Ollama: the error is a bare string.
        (
            404,
            {"error": 'model "real-model" not found'},
            ('model "real-model" not found', "invalid_request_error", None, None),
        ),
        # vLLM: top-level fields, a class name as type and the status as code.
        (
            400,
            {
                "object": "error",
                "message": "bad n",
                "type": "BadRequestError",
                "param": "n",
                "code": 400,
            },
            ("bad n", "invalid_request_error", "n", None),
        ),
        # FastAPI: `detail`, possibly a list.
        (
            422,
            {"detail": [{"loc": ["body", "x"], "msg": "bad"}]},
            ('[{"loc":["body","x"],"msg":"bad"}]', "invalid_request_error", None, None),
        ),
        # A proxy that wrapped the envelope twice.
        (
            400,
            {"error": openai_error("twice", param="messages")},
            ("twice", "invalid_request_error", "messages", None),
        ),
        (
            400,
            {"error": {"message": {"nested": True}}},
            ('{"nested":true}', "invalid_request_error", None, None),
        ),
    ],
)
def test_upstream_4xx_keeps_status_and_error_fields(client, upstream, status, body, expected):
    upstream.post(CHAT_URL, json=body, status=status)
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == status
    error = response.get_json()["error"]
    check_error(response.get_json(), status)
    assert (error["message"], error["type"], error["param"], error["code"]) == expected


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"upstream exploded", "text/plain", "upstream exploded"),
        (b"<html><body>Bad Gateway</body></html>", "text/html", "Upstream `up` answered HTTP 400."),
        (b"", "text/plain", "Upstream `up` answered HTTP 400."),
        (b"[1, 2]", "application/json", "Upstream `up` answered HTTP 400."),
    ],
)
def test_a_non_json_error_body_is_wrapped_in_one_envelope(
    client, upstream, body, content_type, message
):
    upstream.post(CHAT_URL, body=body, status=400, content_type=content_type)
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 400
    check_error(response.get_json(), 400)
    assert response.get_json()["error"]["message"] == message


def test_rate_limit_keeps_retry_after_and_ratelimit_headers(client, upstream):
    headers = {
        "Retry-After": "7",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-tokens": "1s",
        "x-upstream-internal": "not passed",
    }
    body = openai_error("Rate limit reached", type="requests", code="rate_limit_exceeded")
    upstream.post(CHAT_URL, json=body, status=429, headers=headers)
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 429
    check_error(response.get_json(), 429)
    assert response.get_json()["error"]["code"] == "rate_limit_exceeded"
    assert response.headers["Retry-After"] == "7"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.headers["x-ratelimit-reset-tokens"] == "1s"
    assert "x-upstream-internal" not in response.headers


@pytest.mark.parametrize("status", [500, 502, 503])
def test_upstream_5xx_becomes_502(client, upstream, status):
    upstream.post(CHAT_URL, json=openai_error("overloaded", type="server_error"), status=status)
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 502
    check_error(response.get_json(), 502)
    assert response.get_json()["error"]["message"] == "overloaded"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"this is not json", "application/json"),
        (b'{"id": "x", "object": "chat.completion"', "application/json"),
        (b'{"id": "x", "object": "chat.completion"}', "application/json"),
        (b'["choices"]', "application/json"),
    ],
)
def test_a_200_with_a_broken_body_becomes_502(client, upstream, body, content_type):
    upstream.post(CHAT_URL, body=body, content_type=content_type)
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 502
    check_error(response.get_json(), 502)
    assert response.get_json()["error"]["code"] == "upstream_bad_response"


def test_a_200_carrying_an_error_object_is_that_error(client, upstream):
    upstream.post(CHAT_URL, json=openai_error("context too long", param="messages"))
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "messages"


@pytest.mark.parametrize(
    ("exception", "status", "code"),
    [
        (requests.ConnectionError("refused"), 502, "upstream_unreachable"),
        (requests.ConnectTimeout("connect timed out"), 504, "upstream_timeout"),
        (requests.ReadTimeout("read timed out"), 504, "upstream_timeout"),
        # A read timeout while the body arrives is reported by requests as a ConnectionError.
        (
            requests.ConnectionError(ReadTimeoutError(None, None, "Read timed out.")),
            504,
            "upstream_timeout",
        ),
        (requests.exceptions.ChunkedEncodingError("broken"), 502, "upstream_disconnected"),
    ],
)
def test_transport_failures_map_to_502_and_504(client, upstream, exception, status, code):
    upstream.post(CHAT_URL, body=exception)
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == status
    check_error(response.get_json(), status)
    assert response.get_json()["error"]["code"] == code


def test_a_closed_port_is_a_502(monkeypatch):
    from tests.support.servers import free_port

    backend = {"base_url": f"http://127.0.0.1:{free_port()}/v1", "connect_timeout": 2}
    client = make_app(monkeypatch, backend=backend).test_client()
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "upstream_unreachable"


# -- secrets --------------------------------------------------------------------------------


def test_no_key_reaches_a_response_or_a_log_record(monkeypatch, upstream, caplog):
    caplog.set_level(logging.DEBUG)
    app = make_app(monkeypatch, GATEWAY_API_KEYS=[CLIENT_KEY])
    auth = {"Authorization": f"Bearer {CLIENT_KEY}"}
    client = app.test_client()
    echo = f"Incorrect API key provided: {SERVER_KEY}. Masked: sk-SECR**********-123."
    upstream.post(CHAT_URL, json=openai_error(echo, code="invalid_api_key"), status=401)
    upstream.post(CHAT_URL, body=f"key={SERVER_KEY} failed", status=500)
    upstream.post(CHAT_URL, body=requests.ConnectionError(f"Bearer {SERVER_KEY} refused"))
    upstream.post(CHAT_URL, json={"error": f"client sent {CLIENT_KEY}"}, status=403)
    bodies = [
        client.post("/v1/chat/completions", json=chat_body(), headers=auth).get_data(as_text=True)
        for _ in range(4)
    ]
    assert "Incorrect API key provided: ***. Masked: ***." in bodies[0]
    for text in [*bodies, caplog.text, *(str(r.args) for r in caplog.records)]:
        assert SERVER_KEY not in text
        assert CLIENT_KEY not in text
        assert "SECR" not in text


def test_forwarded_client_key_is_scrubbed_from_upstream_messages(monkeypatch, upstream, caplog):
    caplog.set_level(logging.DEBUG)
    app = make_app(monkeypatch, backend={"forward_client_key": True})
    upstream.post(CHAT_URL, json=openai_error(f"Key {CLIENT_KEY} is revoked"), status=401)
    response = app.test_client().post(
        "/v1/chat/completions", json=chat_body(), headers={"Authorization": f"Bearer {CLIENT_KEY}"}
    )
    assert response.status_code == 401
    assert response.get_json()["error"]["message"] == "Key *** is revoked"
    assert CLIENT_KEY not in caplog.text
