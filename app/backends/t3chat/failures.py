"""t3.chat failures as the gateway's errors: refused sessions, rate limits, unknown formats."""

from __future__ import annotations

import json
from typing import Any

import requests

from app.backends.t3chat.credentials import Credentials
from app.backends.t3chat.parse import LoginPage, ProtocolError
from app.backends.upstream_status import passed_headers, status_error
from app.errors import APIError, AuthenticationError, PermissionDeniedError, UpstreamError

REFRESH_HINT = (
    "Copy fresh COOKIES and CONVEX_SESSION_ID from a browser signed in to t3.chat "
    "(or send them as the API key `<cookies>:<convexSessionId>`)."
)
SESSION_EXPIRED = (
    f"t3.chat did not accept the session cookies: they expired or were refused. {REFRESH_HINT}"
)
CHALLENGE = (
    "t3.chat answered with a Cloudflare challenge: the session cookies were refused for "
    f"automated access. {REFRESH_HINT}"
)
_PROTOCOL_MESSAGES = {
    "empty": "t3.chat returned an empty response.",
    "truncated": "t3.chat closed the stream in the middle of a message.",
}
UNPARSEABLE = (
    "t3.chat answered in a format the gateway could not parse; the unofficial web protocol "
    "may have changed."
)
_MAX_DETAIL = 200
_ERROR_BODY_BYTES = 4096


def is_challenge(response: requests.Response) -> bool:
    """True for a Cloudflare bot challenge instead of an answer."""
    if response.headers.get("cf-mitigated", "").lower() == "challenge":
        return True
    html = "text/html" in response.headers.get("Content-Type", "").lower()
    from_cloudflare = "cloudflare" in response.headers.get("Server", "").lower()
    return html and from_cloudflare and response.status_code in (403, 429, 503)


def _detail(response: requests.Response, credentials: Credentials) -> str:
    """The message of a JSON error body, short and scrubbed; empty when there is none."""
    try:
        raw = next(response.iter_content(_ERROR_BODY_BYTES), b"")
        body: Any = json.loads(raw)
    except (ValueError, requests.RequestException):
        return ""
    message = body.get("error", body.get("message")) if isinstance(body, dict) else None
    if isinstance(message, dict):
        message = message.get("message")
    if not isinstance(message, str) or not message.strip():
        return ""
    return credentials.redact(message.strip())[:_MAX_DETAIL]


def response_error(response: requests.Response, credentials: Credentials) -> APIError | None:
    """The error for an upstream answer that is not a stream, or None when it is one."""
    status = response.status_code
    content_type = response.headers.get("Content-Type", "").lower()
    if is_challenge(response):
        return PermissionDeniedError(CHALLENGE, code="t3chat_challenge")
    if status == 401 or (300 <= status < 400):
        return AuthenticationError(SESSION_EXPIRED)
    if status == 403:
        return PermissionDeniedError(SESSION_EXPIRED, code="t3chat_session_refused")
    if status == 429:
        return status_error(
            429, "t3.chat rate limit reached; retry later.", headers=passed_headers(response)
        )
    if status >= 400:
        detail = _detail(response, credentials)
        suffix = f": {detail}" if detail else "."
        return status_error(status, f"t3.chat answered HTTP {status}{suffix}")
    if "text/html" in content_type:
        return AuthenticationError(SESSION_EXPIRED)
    return None


def protocol_error(exc: ProtocolError) -> APIError:
    """The error for a body the stream parser refused (never quoting the body)."""
    if isinstance(exc, LoginPage):
        return AuthenticationError(SESSION_EXPIRED)
    return UpstreamError(_PROTOCOL_MESSAGES.get(exc.kind, UNPARSEABLE), code="t3chat_bad_response")


def stream_failure(message: str, credentials: Credentials) -> APIError:
    """An error t3.chat reported inside the stream, scrubbed and shortened."""
    text = credentials.redact(" ".join(message.split()))[:_MAX_DETAIL]
    return UpstreamError(f"t3.chat reported an error: {text}", code="t3chat_error")
