"""Anthropic backend: errors without Anthropic's JSON body, context overflow, rate-limit headers."""

from __future__ import annotations

import pytest
import responses

from tests.fakes.anthropic_wire import error_body, gateway_models
from tests.support.openai_checks import check_error

BASE = "https://api.anthropic.test"
REQUEST = {"model": "claude-3-haiku", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def config(config, monkeypatch):
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-unit-key")
    return {
        **config,
        "MODELS": gateway_models(BASE, "TEST_ANTHROPIC_KEY"),
        "RETRY_BACKOFF_BASE": 0.0,
        "RETRY_BACKOFF_MAX": 0.0,
    }


@pytest.mark.parametrize(
    ("status", "expected_status", "expected_type", "code", "retryable"),
    [
        (401, 401, "invalid_request_error", "invalid_api_key", False),
        (402, 402, "invalid_request_error", "billing_error", False),
        (403, 403, "invalid_request_error", None, False),
        (404, 404, "invalid_request_error", None, False),
        (413, 413, "invalid_request_error", "request_too_large", False),
        (429, 429, "requests", "rate_limit_exceeded", True),
        (500, 502, "server_error", None, True),
        (504, 504, "timeout", "upstream_timeout", True),
        (529, 503, "server_error", None, True),
    ],
)
def test_a_status_without_anthropic_json_keeps_the_documented_error(
    config, status, expected_status, expected_type, code, retryable
):
    from app import create_app

    client = create_app(
        {**config, "MODELS": gateway_models(BASE, "TEST_ANTHROPIC_KEY", retries=1)}
    ).test_client()
    html = "<html><body><center>cloudflare</center></body></html>"
    with responses.RequestsMock() as mock:
        for _ in range(2 if retryable else 1):
            mock.add(
                responses.POST,
                f"{BASE}/v1/messages",
                status=status,
                body=html,
                content_type="text/html",
            )
        response = client.post("/v1/chat/completions", json=REQUEST)
    error = check_error(response.get_json(), expected_status)
    assert (error.type, error.code) == (expected_type, code)
    assert error.message == f"Upstream `claude` answered HTTP {status}."


@pytest.mark.parametrize(
    "message_text",
    [
        "prompt is too long: 215000 tokens > 200000 maximum",
        "input length and `max_tokens` exceed context limit: 178959 + 64000 > 200000, "
        "decrease input length or `max_tokens` and try again",
    ],
)
def test_context_overflow_is_context_length_exceeded(client, message_text):
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{BASE}/v1/messages",
            status=400,
            json=error_body("invalid_request_error", message_text),
        )
        response = client.post("/v1/chat/completions", json=REQUEST)
    assert response.status_code == 400
    assert response.get_json()["error"] == {
        "message": message_text,
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }


def test_rate_limit_headers_are_translated_to_openai_ones(client):
    headers = {
        "retry-after": "7",
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": "2099-01-01T00:00:00Z",
        "anthropic-ratelimit-tokens-limit": "40000",
        "anthropic-ratelimit-tokens-remaining": "123",
        "anthropic-ratelimit-tokens-reset": "2000-01-01T00:00:00Z",
        "anthropic-ratelimit-input-tokens-limit": "30000",
    }
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{BASE}/v1/messages",
            status=429,
            json=error_body("rate_limit_error", "Rate limited"),
            headers=headers,
        )
        response = client.post("/v1/chat/completions", json=REQUEST)
    assert response.status_code == 429
    got = {k.lower(): v for k, v in response.headers.items() if "ratelimit" in k.lower()}
    reset_requests = got.pop("x-ratelimit-reset-requests")
    assert got == {
        "x-ratelimit-limit-requests": "50",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-limit-tokens": "40000",
        "x-ratelimit-remaining-tokens": "123",
        # A reset already past: the limit is full again.
        "x-ratelimit-reset-tokens": "0s",
    }
    assert reset_requests.startswith(tuple("123456789")) and reset_requests.endswith("s")
    assert response.headers["retry-after"] == "7"


def test_rate_limit_resets_are_durations_from_now():
    from datetime import UTC, datetime

    from app.backends.anthropic.ratelimit import openai_ratelimit_headers

    now = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    headers = {
        "Anthropic-Ratelimit-Requests-Reset": "2025-01-01T00:06:00Z",
        "anthropic-ratelimit-tokens-reset": "2025-01-01T00:00:00.020+00:00",
    }
    assert openai_ratelimit_headers(headers, now) == {
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-reset-tokens": "20ms",
    }
    assert openai_ratelimit_headers({"anthropic-ratelimit-tokens-reset": "soon"}, now) == {}
