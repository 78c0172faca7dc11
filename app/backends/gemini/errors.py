"""Gemini error bodies (`{"error": {"code", "message", "status", "details"}}`) as APIErrors."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import requests

from app.backends.upstream_status import passed_headers, status_error
from app.errors import (
    APIError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UpstreamError,
    UpstreamOverloadedError,
    UpstreamTimeoutError,
)

_Factory = Callable[[str, dict[str, str]], APIError]

# google.rpc status → the client-facing error; retryable ones let retries and fallbacks run.
STATUS_ERRORS: dict[str, _Factory] = {
    "INVALID_ARGUMENT": lambda m, h: InvalidRequestError(m, headers=h),
    "FAILED_PRECONDITION": lambda m, h: InvalidRequestError(m, headers=h),
    "OUT_OF_RANGE": lambda m, h: InvalidRequestError(m, headers=h),
    "UNAUTHENTICATED": lambda m, h: AuthenticationError(m, headers=h),
    "PERMISSION_DENIED": lambda m, h: PermissionDeniedError(m, headers=h),
    "NOT_FOUND": lambda m, h: NotFoundError(m, headers=h),
    "RESOURCE_EXHAUSTED": lambda m, h: RateLimitError(m, headers=h, retryable=True),
    "INTERNAL": lambda m, h: UpstreamError(m, headers=h, retryable=True),
    "UNAVAILABLE": lambda m, h: UpstreamOverloadedError(m, headers=h, retryable=True),
    "DEADLINE_EXCEEDED": lambda m, h: UpstreamTimeoutError(m, headers=h, retryable=True),
}
# ErrorInfo reasons that override the status (a bad key is reported as INVALID_ARGUMENT).
REASON_ERRORS: dict[str, _Factory] = {
    "API_KEY_INVALID": lambda m, h: AuthenticationError(m, headers=h),
    "API_KEY_SERVICE_BLOCKED": lambda m, h: PermissionDeniedError(m, headers=h),
}
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
# Gemini's words for a prompt over the context window ("The input token count (N) exceeds the
# maximum number of tokens allowed (M).").
_TOO_LONG = re.compile(r"input token count.*exceeds the maximum", re.IGNORECASE | re.DOTALL)


def response_error(response: requests.Response, name: str, secret: str | None) -> APIError:
    """The APIError for a failed upstream HTTP response (its body is read here)."""
    try:
        payload = json.loads(response.content)
    except (ValueError, requests.RequestException):
        payload = None
    return gemini_error(payload, response.status_code, passed_headers(response), name, secret)


def gemini_error(
    payload: Any,
    http_status: int,
    headers: Mapping[str, str],
    name: str,
    secret: str | None,
) -> APIError:
    """Map a Gemini error body to the matching OpenAI error; the upstream message is kept."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return status_error(http_status, f"Upstream `{name}` returned HTTP {http_status}.")
    message = _scrub(str(error.get("message") or f"Upstream `{name}` failed."), secret)
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    headers = dict(headers)
    delay = _retry_delay(details)
    if delay is not None and not any(k.lower() == "retry-after" for k in headers):
        headers["Retry-After"] = delay
    reasons = [d.get("reason") for d in details if d.get("reason") in REASON_ERRORS]
    factory = REASON_ERRORS[reasons[0]] if reasons else STATUS_ERRORS.get(error.get("status", ""))
    if factory is None:
        return status_error(http_status, message, headers=headers)
    exc = factory(message, headers)
    if isinstance(exc, NotFoundError) and "models/" in message:
        exc.code, exc.param = "model_not_found", None
    elif isinstance(exc, InvalidRequestError) and _TOO_LONG.search(message):
        # OpenAI's code for it, which clients test to trim the history and try again.
        exc.code, exc.param = "context_length_exceeded", "messages"
    return exc


def malformed() -> UpstreamError:
    """The error for an answer whose shape breaks the GenerateContentResponse schema."""
    return UpstreamError("Upstream returned a malformed answer.", code="upstream_bad_response")


def _retry_delay(details: list[dict[str, Any]]) -> str | None:
    """RetryInfo's `retryDelay` ("37s", "1.5s") as whole seconds for a Retry-After header."""
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return str(math.ceil(float(match.group(1))))
    return None


def _scrub(message: str, secret: str | None) -> str:
    """Never echo the provider key, even if an upstream message were to contain it."""
    return message.replace(secret, "[redacted]") if secret else message
