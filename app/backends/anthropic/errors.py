"""Anthropic error bodies and stream error events mapped to the gateway's OpenAI-style errors."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import requests

from app.backends.anthropic.ratelimit import openai_ratelimit_headers
from app.backends.upstream_status import passed_headers, status_error
from app.errors import (
    APIError,
    AuthenticationError,
    NotFoundError,
    PayloadTooLarge,
    PermissionDeniedError,
    RateLimitError,
    UpstreamError,
    UpstreamOverloadedError,
    UpstreamTimeoutError,
)
from app.redaction import scrub

# The HTTP status Anthropic documents for each error type; used for errors that arrive as a
# stream event, where there is no HTTP status to go by.
TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
# The other way round, for an error whose body is not Anthropic's JSON (a 413 comes from
# Cloudflare, in front of the API): the status alone then tells the type.
STATUS_TYPE = {status: kind for kind, status in TYPE_STATUS.items()}

# Anthropic's two messages for a conversation too long for the model's context window:
# "prompt is too long: 215000 tokens > 200000 maximum" and "input length and `max_tokens`
# exceed context limit: 178959 + 64000 > 200000, ...".
_CONTEXT_OVERFLOW = re.compile(r"^(prompt is too long|input length and .*exceed context limit)")


def _overloaded(message: str, headers: dict[str, str]) -> APIError:
    # 529 is Anthropic's own status; OpenAI clients know 503 as "try again later".
    return UpstreamOverloadedError(message, headers=headers, retryable=True)


def _not_found(message: str, headers: dict[str, str]) -> APIError:
    # Anthropic names the model in the message ("model: claude-x") when the id is unknown.
    if message.startswith("model:"):
        return NotFoundError(message, code="model_not_found", headers=headers)
    return NotFoundError(message, headers=headers)


_BY_TYPE = {
    "authentication_error": lambda m, h: AuthenticationError(m, headers=h),
    "permission_error": lambda m, h: PermissionDeniedError(m, headers=h),
    "not_found_error": _not_found,
    "request_too_large": lambda m, h: PayloadTooLarge(m, headers=h),
    "rate_limit_error": lambda m, h: RateLimitError(m, headers=h, retryable=True),
    "api_error": lambda m, h: UpstreamError(m, headers=h, retryable=True),
    "timeout_error": lambda m, h: UpstreamTimeoutError(m, headers=h, retryable=True),
    "overloaded_error": _overloaded,
}


def anthropic_error(
    status: int,
    error_type: str | None,
    message: str,
    headers: Mapping[str, str] | None = None,
    secret: str | None = None,
) -> APIError:
    """The client-facing error for one Anthropic error (type and message kept, key scrubbed)."""
    headers = dict(headers or {})
    if secret:
        # Whatever sits between the gateway and Anthropic may echo the key it was sent.
        message = scrub(message, [secret])
        error_type = scrub(error_type, [secret]) if error_type else error_type
    error_type = error_type or STATUS_TYPE.get(status)
    build = _BY_TYPE.get(error_type or "")
    if build is None and status == 529:
        # 529 is Anthropic's overload status, whatever type its body names.
        build = _overloaded
    if build is not None:
        return build(message, headers)
    if error_type == "invalid_request_error" and _CONTEXT_OVERFLOW.match(message):
        # OpenAI's code for it; clients trim the history when they see it.
        return status_error(
            status, message, code="context_length_exceeded", param="messages", headers=headers
        )
    code = error_type if error_type not in (None, "invalid_request_error") else None
    return status_error(status, message, code=code, headers=headers)


def _error_fields(payload: Any) -> tuple[str | None, str | None]:
    """(type, message) of an Anthropic error body, or Nones when it is not one."""
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), dict):
        return None, None
    error = payload["error"]
    error_type = error.get("type") if isinstance(error.get("type"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    return error_type, message


def response_error(name: str, response: requests.Response, secret: str | None = None) -> APIError:
    """The error for a non-2xx upstream response; reads (and closes) its body."""
    try:
        raw = response.content
    except requests.RequestException:
        raw = b""
    finally:
        response.close()
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = None
    error_type, message = _error_fields(payload)
    if message is None:
        message = f"Upstream `{name}` answered HTTP {response.status_code}."
    # The upstream's own x-ratelimit-* headers, if it sent any, win over the translated ones.
    headers = {**openai_ratelimit_headers(response.headers), **passed_headers(response)}
    return anthropic_error(response.status_code, error_type, message, headers, secret)


def event_error(name: str, payload: Any, secret: str | None = None) -> APIError:
    """The error for an `error` event received in the middle of a stream."""
    error_type, message = _error_fields(payload)
    if message is None:
        message = f"Upstream `{name}` reported an error during the stream."
    status = TYPE_STATUS.get(error_type or "", 500)
    return anthropic_error(status, error_type, message, secret=secret)
