"""What a failure below HTTP (connect, read, timeout) on the way to an upstream becomes for the
client."""

from __future__ import annotations

import http.client
import logging

import requests
import urllib3.exceptions
from urllib3.exceptions import ReadTimeoutError

from app.errors import APIError, UpstreamError, UpstreamTimeoutError, drop_tracebacks

log = logging.getLogger(__name__)


def transport_error(name: str, exc: Exception, *, started: bool = False) -> APIError:
    """The client-facing error for upstream `name`'s failure `exc`; `started`: mid-answer."""
    # The exception text may carry URLs: it is logged by class only.
    log.warning("upstream %s failed: %s", name, type(exc).__name__)
    # Nor are its frames of use: kept, they hold the failed request (urllib3 keeps the error
    # in a local of a frame its traceback holds).
    drop_tracebacks(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return UpstreamTimeoutError(f"Timed out connecting to upstream `{name}`.", retryable=True)
    if _is_read_timeout(exc):
        what = "stopped sending data" if started else "did not answer in time"
        return UpstreamTimeoutError(f"Upstream `{name}` {what}.", retryable=True)
    if started or isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return UpstreamError(
            f"Upstream `{name}` closed the connection before the answer was complete.",
            code="upstream_disconnected",
            retryable=True,
        )
    if _not_http(exc):
        return UpstreamError(
            f"Upstream `{name}` sent an answer that is not valid HTTP.",
            code="upstream_bad_response",
            retryable=True,
        )
    if _dropped_before_answer(exc):
        return UpstreamError(
            f"Upstream `{name}` closed the connection without answering.",
            code="upstream_disconnected",
            retryable=True,
        )
    return UpstreamError(
        f"Could not connect to upstream `{name}`.",
        code="upstream_unreachable",
        retryable=True,
    )


def _dropped_before_answer(exc: Exception) -> bool:
    """True when the connection was open but closed (or reset) before the status line came."""
    # requests reports it as a ConnectionError around urllib3's "Connection aborted."; a
    # connection that could not be opened at all arrives as a NewConnectionError instead.
    return bool(exc.args) and isinstance(exc.args[0], urllib3.exceptions.ProtocolError)


def _not_http(exc: Exception) -> bool:
    """True when the upstream answered, but not in HTTP: a garbage status line, a header line
    over http.client's limit, too many headers."""
    cause = exc.args[0] if exc.args else None
    if not isinstance(cause, urllib3.exceptions.ProtocolError) or len(cause.args) < 2:
        return False
    reason = cause.args[1]
    # RemoteDisconnected (an empty status line: the connection closed) is a BadStatusLine too.
    return isinstance(reason, http.client.HTTPException) and not isinstance(
        reason, http.client.RemoteDisconnected
    )


def _is_read_timeout(exc: Exception) -> bool:
    """True for a read timeout, however requests or urllib3 wrapped it (or a socket's own)."""
    if isinstance(exc, requests.ReadTimeout | ReadTimeoutError | TimeoutError):
        return True
    # requests reports a read timeout while reading the body as a ConnectionError.
    return bool(exc.args) and isinstance(exc.args[0], ReadTimeoutError)
