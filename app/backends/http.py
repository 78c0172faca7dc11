"""Pooled HTTP access to one upstream, with explicit timeouts and errors mapped once."""

from __future__ import annotations

import functools
import http.client
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import requests
import urllib3.exceptions

from app import __version__
from app.backends import upstream_body
from app.backends import upstream_deadline as deadlines
from app.backends.connections import DEFAULT_KEEPALIVE_EXPIRY
from app.backends.prepared import LeanAdapter, NoCookies, PreparedSender, without_body
from app.backends.upstream_body import READ_SIZE, identity
from app.backends.upstream_transport import transport_error
from app.errors import UpstreamError, UpstreamTimeoutError

log = logging.getLogger(__name__)

DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
DEFAULT_TOTAL_TIMEOUT = 600.0
# Keep-alive connections kept per upstream per worker: as many as a worker has streams open
# at once under heavy load, so that a burst does not end in a wave of reconnections.
DEFAULT_POOL_SIZE = 1000


def _keepalive_expiry(name: str, value: Any) -> float:
    """The `keepalive_expiry` option in seconds: a positive number (not a boolean or text)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"backend `{name}`: keepalive_expiry must be a positive number of seconds")
    return float(value)


class UpstreamHTTP:
    """One keep-alive `requests.Session` per upstream per worker; every call has a timeout.

    Options (from the backend's entry in the models file): `base_url`, `headers`,
    `connect_timeout` (s, default 5), `read_timeout` (s between bytes, default 600),
    `total_timeout` (s for the headers, a whole body read with `read_body` or a stream's first
    event where its reader asks `wait_until`, counted from when the request started; default
    600),
    `max_response_bytes` (largest non-streamed answer and longest stream line, default
    32 MiB), `pool_size` (keep-alive connections kept, default 1000), `keepalive_expiry` (s a
    pooled connection may stay idle and still be reused, default 60).
    """

    def __init__(self, name: str, base_url: str, options: Mapping[str, Any]) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = (
            float(options.get("connect_timeout", 5.0)),
            float(options.get("read_timeout", 600.0)),
        )
        self.total_timeout = float(options.get("total_timeout", DEFAULT_TOTAL_TIMEOUT))
        self.max_response_bytes = int(options.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES))
        pool_size = int(options.get("pool_size", DEFAULT_POOL_SIZE))
        self.session = requests.Session()
        # Proxies and .netrc from the environment must not silently reroute provider traffic.
        self.session.trust_env = False
        # Shared by every client: a cookie set for one must never go out with another's calls.
        self.session.cookies.set_policy(NoCookies())
        expiry = _keepalive_expiry(name, options.get("keepalive_expiry", DEFAULT_KEEPALIVE_EXPIRY))
        adapter = LeanAdapter(
            pool_connections=1, pool_maxsize=pool_size, max_retries=0, keepalive_expiry=expiry
        )
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"openai-gateway/{__version__}"
        self.session.headers.update(
            {str(k): str(v) for k, v in (options.get("headers") or {}).items()}
        )
        # Hot path: requests prepared from cached templates (same headers, no cookies).
        self.sender = PreparedSender(self.session)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
        params: Mapping[str, str] | None = None,
        timeout: tuple[float, float] | None = None,
        total: float | None = None,
    ) -> requests.Response:
        """Send one request; connection failures → 502 and timeouts → 504 (both retryable).

        `path` is appended to `base_url` unless it is a full URL (precomputed by the caller).
        The headers are waited for `total` seconds at most (default `total_timeout`). Without
        `stream` the body is read here, within `total` and `max_response_bytes`;
        `response.content` then holds it.
        """
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        connect, read = timeout or self.timeout
        total = self.total_timeout if total is None else total
        # The headers are part of the answer (and come before a stream's first event): their
        # wait ends by the total deadline too.
        wait = (connect, max(min(read, total), deadlines.MIN_WAIT))
        try:
            # Always streamed, so that requests never reads an unbounded body on its own.
            if self.sender.can_send(data, json_body, params):
                response = self.sender.send(method, url, data, headers, wait)
            else:
                response = self.session.request(
                    method,
                    url,
                    json=json_body,
                    data=data,
                    headers=headers,
                    params=params,
                    stream=True,
                    timeout=wait,
                    allow_redirects=False,
                )
        except requests.RequestException as exc:
            if total < read and isinstance(exc, requests.ReadTimeout):
                raise deadlines.late(self.name, total, stream, cause=exc) from exc
            raise transport_error(self.name, exc) from exc
        if not stream:
            try:
                body = self.read_body(response, total, read)
            finally:
                response.close()
            # requests' own cache of a read body, so `.content` and `.json()` work as usual.
            response._content = body
            return response
        if total < read:
            # Events wait `read_timeout` again; a reader with a deadline uses `wait_until`.
            deadlines.set_wait(deadlines.socket_of(response), read)
        if response.request is not None and response.request.body:
            response.request = without_body(response.request)
        return response

    def iter_bytes(self, response: requests.Response) -> Iterator[bytes]:
        """The raw body of a streamed response as it arrives; read errors become APIErrors.

        A line longer than `max_response_bytes` (a stream that never ends its event) fails.
        """
        return self._reads(response, line_limit=self.max_response_bytes)

    def finish(self, response: requests.Response, reads: Iterator[bytes]) -> None:
        """End a stream whose answer is complete (see `upstream_body.finish`)."""
        upstream_body.finish(response, reads)

    def peek(self, response: requests.Response) -> bytes:
        """The first bytes of a streamed body, left for the reads that follow (waited for, until
        the deadline of the stream's first event at the latest)."""
        # Empty for an empty body, or one whose content coding hides them.
        raw = response.raw
        wire = getattr(raw, "_fp", None)
        # A body of declared length 0 would be waited on until the read timeout.
        if not isinstance(wire, http.client.HTTPResponse) or not identity(raw) or wire.length == 0:
            return b""
        bounded = self.wait_until(response, self.deadline(response))
        try:
            first = wire.peek(1)
        except (http.client.HTTPException, OSError) as exc:
            response.close()  # a failed connection must not serve again
            if bounded and isinstance(exc, TimeoutError):
                raise deadlines.late(self.name, self.total_timeout, stream=True, cause=exc) from exc
            raise transport_error(self.name, exc, started=True) from exc
        except BaseException:
            response.close()  # the wait was cut short (the client left): let the upstream go
            raise
        if bounded:
            self.wait_until(response, None)
        return first if wire.length is None else first[: wire.length]

    def deadline(self, response: requests.Response, total: float | None = None) -> float:
        """When `response`'s whole answer, or a stream's first event, is due (a monotonic time):
        `total` (default `total_timeout`) after the request started (connecting included)."""
        return deadlines.due(response, self.total_timeout if total is None else total)

    def wait_until(self, response: requests.Response, deadline: float | None) -> bool:
        """Make the next read of `response` wait until `deadline` at the latest (with None:
        `read_timeout` again); True when the deadline, not `read_timeout`, ends that wait."""
        return deadlines.wait_until(response, deadline, self.timeout[1])

    def read_body(
        self, response: requests.Response, total: float | None = None, read: float | None = None
    ) -> bytes:
        """The whole body of a (streamed) response, within `total` seconds of the request
        (default `total_timeout`), `read` between bytes (default `read_timeout`) and
        `max_response_bytes`; read errors become APIErrors."""
        if response._content is not False:
            return response.content  # already read
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            raise self._too_large()
        total = self.total_timeout if total is None else total
        read = self.timeout[1] if read is None else read
        deadline = self.deadline(response, total)
        parts: list[bytes] = []
        size = 0
        reads = self._reads(response)
        while True:
            # `read_timeout` alone would let an upstream that stalls mid-body wait it out.
            bounded = deadlines.wait_until(response, deadline, read)
            try:
                chunk = next(reads, None)
            except UpstreamTimeoutError as exc:
                if bounded:
                    raise deadlines.late(self.name, total, stream=False, cause=exc) from exc
                raise
            if chunk is None:
                return b"".join(parts)
            size += len(chunk)
            if size > self.max_response_bytes:
                raise self._too_large()
            if time.monotonic() > deadline:
                raise deadlines.late(self.name, total, stream=False)
            parts.append(chunk)

    def _reads(self, response: requests.Response, line_limit: int | None = None) -> Iterator[bytes]:
        """Each read of the body as it returns, at most `READ_SIZE` bytes; with `line_limit`,
        a line longer than that many bytes fails.

        The one generator between a stream and its socket: every event of every stream
        passes through it, so the line check is made here rather than in another layer.
        """
        raw = response.raw
        wire = getattr(raw, "_fp", None)
        pending = 0  # bytes since the last newline
        try:
            wire_reads = isinstance(wire, http.client.HTTPResponse) and identity(raw)
            if wire_reads:
                # The hot path of every stream: http.client's `read1` undoes the chunked
                # framing and returns whatever has arrived, one call per read instead of
                # urllib3's generators around the same reads.
                chunks = iter(functools.partial(wire.read1, READ_SIZE), b"")
            elif getattr(raw, "chunked", False) and raw.supports_chunked_reads():
                # Yields each HTTP chunk as soon as it is complete (split when larger).
                chunks = response.iter_content(chunk_size=READ_SIZE)
            else:
                # Without chunked encoding `iter_content` would wait for a full buffer before
                # yielding; `read1` returns whatever has arrived instead.
                chunks = iter(functools.partial(raw.read1, READ_SIZE, decode_content=True), b"")
            for chunk in chunks:
                if line_limit is not None:
                    pending = self._line_length(chunk, pending, line_limit)
                yield chunk
            if wire_reads:
                if wire.length:
                    # `read1` reports a body cut short of its Content-Length as its end.
                    raise http.client.IncompleteRead(b"", wire.length)
                # The body was read to its end: the connection goes back to the pool.
                upstream_body.release(raw, wire)
        except (
            requests.RequestException,
            urllib3.exceptions.HTTPError,
            http.client.HTTPException,
            OSError,
        ) as exc:
            raise transport_error(self.name, exc, started=True) from exc

    def _line_length(self, chunk: bytes, pending: int, limit: int) -> int:
        """Bytes since the last newline once `chunk` is added to `pending`; over `limit` fails."""
        newline = chunk.rfind(b"\n")
        pending = pending + len(chunk) if newline < 0 else len(chunk) - newline - 1
        if pending > limit:
            raise self._too_large()
        return pending

    def _too_large(self) -> UpstreamError:
        log.warning("upstream %s failed: answer over %d bytes", self.name, self.max_response_bytes)
        # The same request would get the same answer: neither retried nor sent to a fallback.
        return UpstreamError(
            f"Upstream `{self.name}` sent an answer larger than the {self.max_response_bytes} "
            "bytes this gateway accepts.",
            code="upstream_response_too_large",
        )

    def close(self) -> None:
        """Close pooled connections."""
        self.session.close()
