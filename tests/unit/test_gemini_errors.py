"""Gemini backend: google.rpc error bodies as OpenAI errors, retries, and key hygiene."""

from __future__ import annotations

import logging

import pytest
import requests

from tests.fakes.gemini import error_body
from tests.support.openai_checks import check_error
from tests.unit.gemini_helpers import KEY, OK, URL, chat, gemini_client

BAD_KEY_INFO = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
    "metadata": {"service": "generativelanguage.googleapis.com"},
}
QUOTA = [
    {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaMetric": "generate_content_free_tier_requests", "quotaId": "x"}],
    },
    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37.5s"},
]
CASES = [
    # (http, status, message, details, → status, type, code)
    (400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified",
     None, 400, "invalid_request_error", None),
    (400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
     [BAD_KEY_INFO], 401, "invalid_request_error", "invalid_api_key"),
    (400, "INVALID_ARGUMENT", "The input token count (1200293) exceeds the maximum number of "
     "tokens allowed (1048576).", None, 400, "invalid_request_error", "context_length_exceeded"),
    (400, "FAILED_PRECONDITION", "User location is not supported for the API use.",
     None, 400, "invalid_request_error", None),
    (401, "UNAUTHENTICATED", "Request had invalid authentication credentials.",
     None, 401, "invalid_request_error", "invalid_api_key"),
    (403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.",
     None, 403, "invalid_request_error", None),
    (404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta, or is not "
     "supported for generateContent.", None, 404, "invalid_request_error", "model_not_found"),
    (429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.",
     QUOTA, 429, "requests", "rate_limit_exceeded"),
    (500, "INTERNAL", "An internal error has occurred.", None, 502, "server_error", None),
    (503, "UNAVAILABLE", "The model is overloaded. Please try again later.",
     None, 503, "server_error", None),
    (504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete.",
     None, 504, "timeout", "upstream_timeout"),
    (499, "CANCELLED", "The operation was cancelled.", None, 499, "invalid_request_error", None),
]  # fmt: skip


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


@pytest.mark.parametrize(
    ("http", "status", "message", "details", "want_status", "want_type", "want_code"),
    CASES,
    ids=[f"{case[1]}/{case[6]}" for case in CASES],
)
def test_error_mapping(
    client, upstream, http, status, message, details, want_status, want_type, want_code
):
    upstream.post(URL, json=error_body(http, status, message, details), status=http)
    answer = chat(client)
    assert answer.status_code == want_status
    error = check_error(answer.json, want_status)
    assert (error.type, error.code, error.message) == (want_type, want_code, message)
    if want_code == "model_not_found":
        assert error.param is None
    if want_code == "context_length_exceeded":
        assert error.param == "messages"


def test_retry_after_from_retry_info_and_upstream_header(client, upstream):
    upstream.post(URL, json=error_body(429, "RESOURCE_EXHAUSTED", "Quota.", QUOTA), status=429)
    assert chat(client).headers["Retry-After"] == "38"
    upstream.post(
        URL,
        json=error_body(429, "RESOURCE_EXHAUSTED", "Quota.", QUOTA),
        status=429,
        headers={"Retry-After": "3"},
    )
    assert chat(client).headers["Retry-After"] == "3"


def test_body_that_is_not_json_keeps_the_status_class(client, upstream):
    upstream.post(URL, body="<html>Bad Gateway</html>", status=502)
    answer = chat(client)
    assert answer.status_code == 502
    assert check_error(answer.json).message == "Upstream `gemini` returned HTTP 502."


@pytest.mark.parametrize("status", [429, 503])
def test_retryable_errors_are_retried(monkeypatch, upstream, status):
    client = gemini_client(monkeypatch, retries=1)
    kind = "RESOURCE_EXHAUSTED" if status == 429 else "UNAVAILABLE"
    upstream.post(URL, json=error_body(status, kind, "Try later."), status=status)
    upstream.post(URL, json=OK)
    answer = chat(client)
    assert answer.status_code == 200
    assert len(upstream.calls) == 2


def test_bad_request_is_not_retried(monkeypatch, upstream):
    client = gemini_client(monkeypatch, retries=2)
    upstream.post(URL, json=error_body(400, "INVALID_ARGUMENT", "Bad."), status=400)
    assert chat(client).status_code == 400
    assert len(upstream.calls) == 1


def test_key_never_reaches_the_client_or_the_log(client, upstream, caplog):
    echoed = f"Key {KEY} is not allowed for this project."
    upstream.post(URL, json=error_body(403, "PERMISSION_DENIED", echoed), status=403)
    with caplog.at_level(logging.DEBUG):
        answer = chat(client)
    assert answer.status_code == 403
    assert KEY not in answer.get_data(as_text=True)
    assert check_error(answer.json).message == "Key [redacted] is not allowed for this project."
    assert KEY not in caplog.text


def test_connection_failure_is_a_retryable_bad_gateway(client, upstream, caplog):
    upstream.post(URL, body=requests.ConnectionError(f"failed https://x?key={KEY}"))
    with caplog.at_level(logging.DEBUG):
        answer = chat(client)
    assert answer.status_code == 502
    assert check_error(answer.json).code == "upstream_unreachable"
    assert KEY not in caplog.text and KEY not in answer.get_data(as_text=True)
