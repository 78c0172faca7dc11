"""Anthropic backend: upstream failures become OpenAI errors with the right status and type."""

from __future__ import annotations

import logging

import pytest
import requests
import responses

from tests.fakes.anthropic_wire import error_body, gateway_models, message
from tests.support.openai_checks import check_error

BASE = "https://api.anthropic.test"
KEY = "sk-ant-api03-secret-unit-key-d41d8cd98f"
REQUEST = {"model": "claude-3-haiku", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def config(config, monkeypatch):
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", KEY)
    return {
        **config,
        "MODELS": gateway_models(BASE, "TEST_ANTHROPIC_KEY"),
        "RETRY_BACKOFF_BASE": 0.0,
        "RETRY_BACKOFF_MAX": 0.0,
    }


@pytest.mark.parametrize(
    ("status", "kind", "message", "expected_status", "expected_type", "code"),
    [
        (
            400,
            "invalid_request_error",
            "max_tokens: Field required",
            400,
            "invalid_request_error",
            None,
        ),
        (
            401,
            "authentication_error",
            "invalid x-api-key",
            401,
            "invalid_request_error",
            "invalid_api_key",
        ),
        (
            402,
            "billing_error",
            "Your credit balance is too low.",
            402,
            "invalid_request_error",
            "billing_error",
        ),
        (
            403,
            "permission_error",
            "Your API key does not have permission.",
            403,
            "invalid_request_error",
            None,
        ),
        (
            404,
            "not_found_error",
            "model: claude-9",
            404,
            "invalid_request_error",
            "model_not_found",
        ),
        (404, "not_found_error", "Not found", 404, "invalid_request_error", None),
        (
            413,
            "request_too_large",
            "Request exceeds the maximum size",
            413,
            "invalid_request_error",
            "request_too_large",
        ),
        (
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your rate limit.",
            429,
            "requests",
            "rate_limit_exceeded",
        ),
        (500, "api_error", "Internal server error", 502, "server_error", None),
        (504, "timeout_error", "Request timed out", 504, "timeout", "upstream_timeout"),
        (529, "overloaded_error", "Overloaded", 503, "server_error", None),
        # 529 is the overload status whatever type its body names.
        (529, "overloaded", "Overloaded", 503, "server_error", None),
    ],
)
def test_error_types(client, status, kind, message, expected_status, expected_type, code):
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{BASE}/v1/messages",
            status=status,
            json=error_body(kind, message),
        )
        response = client.post("/v1/chat/completions", json=REQUEST)
    assert response.status_code == expected_status
    error = check_error(response.get_json(), expected_status)
    assert (error.type, error.code, error.message) == (expected_type, code, message)


@pytest.mark.parametrize(
    ("status", "kind", "retried"),
    [
        (429, "rate_limit_error", True),
        (529, "overloaded_error", True),
        (500, "api_error", True),
        (400, "invalid_request_error", False),
        (401, "authentication_error", False),
    ],
)
def test_which_errors_are_retried(config, status, kind, retried):
    from app import create_app

    client = create_app(
        {**config, "MODELS": gateway_models(BASE, "TEST_ANTHROPIC_KEY", retries=1)}
    ).test_client()
    ok = message([{"type": "text", "text": "ok"}])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        url = f"{BASE}/v1/messages"
        mock.add(responses.POST, url, status=status, json=error_body(kind, "no"))
        mock.add(responses.POST, url, json=ok)
        response = client.post("/v1/chat/completions", json=REQUEST)
        calls = len(mock.calls)
    assert (response.status_code == 200) is retried
    assert calls == (2 if retried else 1)


def test_error_body_that_is_not_json(client):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", status=502, body="<html>Bad gateway</html>")
        response = client.post("/v1/chat/completions", json=REQUEST)
    assert response.status_code == 502
    assert check_error(response.get_json()).message == "Upstream `claude` answered HTTP 502."


def test_success_body_that_is_not_json(client):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", body="not json")
        response = client.post("/v1/chat/completions", json=REQUEST)
    assert response.status_code == 502
    assert check_error(response.get_json()).code == "upstream_bad_response"


def test_unreachable_upstream(client):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", body=requests.ConnectionError("refused"))
        response = client.post("/v1/chat/completions", json=REQUEST)
    assert response.status_code == 502
    assert check_error(response.get_json()).code == "upstream_unreachable"


def test_missing_key_names_the_variable_but_sends_nothing(config, monkeypatch):
    from app import create_app

    monkeypatch.delenv("TEST_ANTHROPIC_KEY")
    client = create_app(config).test_client()
    with responses.RequestsMock():
        response = client.post("/v1/chat/completions", json=REQUEST)
    assert response.status_code == 500
    error = check_error(response.get_json(), 500)
    assert error.code == "upstream_key_missing"
    assert "TEST_ANTHROPIC_KEY" in error.message


def test_key_never_appears_in_responses_or_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    bodies = []
    with responses.RequestsMock() as mock:
        url = f"{BASE}/v1/messages"
        mock.add(
            responses.POST,
            url,
            status=401,
            json=error_body("authentication_error", "invalid x-api-key"),
        )
        mock.add(responses.POST, url, status=529, json=error_body("overloaded_error", "Overloaded"))
        mock.add(responses.POST, url, body=requests.ConnectionError(f"boom x-api-key: {KEY}"))
        for _ in range(3):
            response = client.post("/v1/chat/completions", json=REQUEST)
            bodies.append(response.get_data(as_text=True) + str(response.headers))
    assert len(bodies) == 3
    assert all(KEY not in body for body in bodies)
    assert KEY not in caplog.text


def test_a_key_echoed_in_an_error_body_is_scrubbed(client, caplog):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as mock:
        echoed = error_body(f"weird_{KEY}", f"invalid x-api-key: {KEY} (from the proxy)")
        mock.add(responses.POST, f"{BASE}/v1/messages", status=401, json=echoed)
        response = client.post("/v1/chat/completions", json=REQUEST)
    text = response.get_data(as_text=True)
    assert response.status_code == 401
    assert KEY not in text and KEY not in caplog.text
    assert response.get_json()["error"]["message"] == "invalid x-api-key: *** (from the proxy)"
