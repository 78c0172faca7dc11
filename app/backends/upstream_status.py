"""What an upstream's failed HTTP answer becomes for the client: its error, and the headers
passed on with it."""

from __future__ import annotations

from collections.abc import Mapping

import requests

from app.errors import APIError, UpstreamError

# Upstream response headers worth passing on to the client.
PASSED_HEADERS = ("retry-after", "retry-after-ms")
PASSED_PREFIXES = ("x-ratelimit-",)


def passed_headers(response: requests.Response) -> dict[str, str]:
    """Rate-limit and retry headers of an upstream response, to forward to the client."""
    headers = response.headers
    return {
        name: headers[name]
        for name in headers
        if name.lower() in PASSED_HEADERS or name.lower().startswith(PASSED_PREFIXES)
    }


def status_error(
    upstream_status: int,
    message: str,
    *,
    type: str | None = None,
    code: str | None = None,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> APIError:
    """The client-facing error for an upstream HTTP failure.

    4xx keeps its status; only 429 is retryable; 5xx becomes 502 (retryable); anything else 502.
    """
    if 400 <= upstream_status < 500:
        default_type = "requests" if upstream_status == 429 else "invalid_request_error"
        return APIError(
            message,
            status=upstream_status,
            type=type or default_type,
            code=code
            if code is not None
            else ("rate_limit_exceeded" if upstream_status == 429 else None),
            param=param,
            headers=dict(headers or {}),
            retryable=upstream_status == 429,
        )
    return UpstreamError(
        message,
        type=type if type not in (None, "invalid_request_error") else "server_error",
        code=code,
        headers=dict(headers or {}),
        retryable=True,
    )
