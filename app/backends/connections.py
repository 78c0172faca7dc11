"""urllib3 connections to upstreams, with less work and memory per request than the stock ones.

Each differs from urllib3's own in one way, and only in how, never in what goes on the wire:
a request's head and its bytes body leave in one `send` (urllib3 sends them apart: two
system calls and two TCP segments per request), a pooled connection is checked with one
real zero-timeout poll where the OS has one (gevent's cooperative poll would set up and fire
a timer for the same answer), and responses are read through a 2 KiB buffer instead of
8 KiB (a held stream keeps its buffer for its whole life).

Three things they do that urllib3's do not: interim 1xx answers (103 Early Hints, 102
Processing) are skipped to reach the final one, as RFC 9110 asks of clients, a request whose
reused keep-alive connection fails before any byte of the answer is sent once more on a new
connection (see `StaleConnectionError`), and a pooled connection idle for longer than its
pool's `keepalive_expiry` is closed instead of reused.
"""

from __future__ import annotations

import contextvars
import http.client
import logging
import select
import time
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ProtocolError

log = logging.getLogger(__name__)

# Read buffer of each upstream response. A status line with its headers, or a stream event,
# fits; larger reads bypass the buffer. At 1,000 held streams: 2 MB instead of 8.
RESPONSE_BUFFER = 2048
# Interim answers skipped before the final one; past this the upstream is not speaking HTTP.
MAX_INTERIM = 32
# A reused connection that ends without an answer within this many seconds of the request
# was closed as idle as the request crossed it; later, the upstream may have been working on
# the request (then died), and sending it again could run it twice.
STALE_WINDOW = 1.0
# Seconds a pooled connection may stay idle and still be reused. A NAT or load balancer on the
# way forgets idle connections after a few minutes (AWS NAT gateways after 350 s, Azure's load
# balancers after 4 minutes) without telling either end: the connection still looks open, and
# a request sent on it would wait its whole read timeout for an answer that cannot come.
DEFAULT_KEEPALIVE_EXPIRY = 60.0
# Set while a request is sent again after a stale connection: pooled connections are not used.
_FRESH: contextvars.ContextVar[bool] = contextvars.ContextVar("fresh_connection", default=False)


class NoAnswerError(http.client.RemoteDisconnected):
    """The connection was closed or reset before the first byte of the answer arrived."""


class StaleConnectionError(NoAnswerError):
    """`NoAnswerError` on a kept-alive connection that had already served an answer, within
    `STALE_WINDOW` of the request.

    The upstream closed it as idle just as it was reused (servers close idle connections after
    a few seconds; the close can cross the request on the wire). Nothing of an answer came, so
    the request is sent once more, on a new connection, as browsers do.
    """


def _real_poll() -> Any:
    """The operating system's `select.poll`, also in a gevent-patched process."""
    try:
        from gevent import monkey
    except ImportError:
        return getattr(select, "poll", None)
    return monkey.get_original("select", "poll")


_POLL = _real_poll()


class _SocketReader:
    """A socket as `HTTPResponse.__init__` uses it: `makefile`, with a smaller buffer."""

    __slots__ = ("sock",)

    def __init__(self, sock: Any) -> None:
        self.sock = sock

    def makefile(self, mode: str) -> Any:
        """The socket's reader, buffered by `RESPONSE_BUFFER` bytes."""
        return self.sock.makefile(mode, RESPONSE_BUFFER)


class _LeanResponse(http.client.HTTPResponse):
    """http.client's response, reading through a 2 KiB buffer, past interim 1xx answers."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(_SocketReader(sock), *args, **kwargs)

    def begin(self) -> None:
        """http.client's `begin`; a connection that ends before any byte raises NoAnswerError.

        A 1xx that is still the status afterwards (101 Switching Protocols) closes the
        connection: what follows it is not HTTP, and must never reach another request.
        """
        if self.headers is None:
            try:
                # Fills the buffer the status line is then read from: no extra system call.
                arrived = self.fp.peek(1)
            except (ConnectionResetError, ConnectionAbortedError) as exc:
                raise NoAnswerError(str(exc)) from exc
            if not arrived:
                raise NoAnswerError("Remote end closed connection without response")
        super().begin()
        if self.status < 200:
            self.will_close = True

    def _read_status(self) -> tuple[str, int, str]:
        # http.client skips only 100 Continue; a 103 or 102 taken as final would leave the real
        # answer on the connection for the next request to read.
        for _ in range(MAX_INTERIM):
            version, status, reason = super()._read_status()
            if not 100 <= status < 200 or status == 101:
                return version, status, reason
            http.client.parse_headers(self.fp)  # the interim answer's headers, unused
        raise http.client.HTTPException(f"more than {MAX_INTERIM} interim responses")


class _Lean:
    """What the gateway's connections change in urllib3's (mixed in before them)."""

    sock: Any
    response_class = _LeanResponse
    # The head of the request being sent while it waits for its body; None when not waiting.
    _held: bytes | None = None
    # True once the open socket has carried an answer: a failure on it may be a stale one.
    _answered = False
    # time.monotonic() when the current request started to go out.
    _sent_at = 0.0
    # time.monotonic() when the connection went back to its pool.
    idle_since = 0.0

    def connect(self) -> None:
        """urllib3's connect; the new socket has served nothing yet."""
        super().connect()  # type: ignore[misc]
        self._answered = False

    def getresponse(self) -> Any:
        """urllib3's response; on a reused connection, no answer raises StaleConnectionError."""
        reused = self._answered
        try:
            response = super().getresponse()  # type: ignore[misc]
        except NoAnswerError as exc:
            if reused and time.monotonic() - self._sent_at <= STALE_WINDOW:
                raise StaleConnectionError(*exc.args) from exc
            raise
        self._answered = True
        return response

    def request(self, method: str, url: str, body: Any = None, *args: Any, **kwargs: Any) -> None:
        """urllib3's request, with the head and a bytes body sent together."""
        if self.sock is None:
            # Connecting (a proxy tunnel's own exchange included) happens before any holding.
            self.connect()  # type: ignore[attr-defined]
        self._held = b"" if isinstance(body, bytes) and body else None
        self._sent_at = time.monotonic()
        try:
            super().request(method, url, body, *args, **kwargs)  # type: ignore[misc]
            if self._held:
                self._send(self._held)
        finally:
            self._held = None

    def send(self, data: Any) -> None:
        """Hold the head until the body comes; send bytes with one plain `send` first."""
        held = self._held
        if held is not None:
            if not held:
                self._held = data
                return
            self._held, data = None, held + data
        if type(data) is not bytes or self.sock is None:
            super().send(data)  # type: ignore[misc]
            return
        self._send(data)

    def _send(self, data: bytes) -> None:
        # gevent's sendall asks the kernel for the socket's buffer size on every call.
        sent = self.sock.send(data)
        if sent < len(data):
            self.sock.sendall(memoryview(data)[sent:])

    @property
    def is_connected(self) -> bool:
        """False once the peer closed the connection or sent something unasked."""
        if self.sock is None:
            return False
        if _POLL is None:
            return bool(super().is_connected)  # type: ignore[misc]
        poller = _POLL()
        poller.register(self.sock, select.POLLIN)
        return not poller.poll(0)


class _HTTPConnection(_Lean, HTTPConnection):
    pass


class _HTTPSConnection(_Lean, HTTPSConnection):
    pass


class _GatewayPool:
    """What the gateway's pools change in urllib3's (mixed in before them): stale connections
    are resent on, and connections idle past `keepalive_expiry` are not reused."""

    host: str
    # Set per upstream by the adapter that uses the pool (prepared.LeanAdapter).
    keepalive_expiry = DEFAULT_KEEPALIVE_EXPIRY

    def urlopen(self, method: str, url: str, body: Any = None, *args: Any, **kwargs: Any) -> Any:
        """urllib3's urlopen; a request that met a stale connection is sent once more at once.

        The second attempt takes a new connection: the pool's other idle ones are as old.
        """
        try:
            return super().urlopen(method, url, body, *args, **kwargs)  # type: ignore[misc]
        except ProtocolError as exc:
            stale = len(exc.args) > 1 and isinstance(exc.args[1], StaleConnectionError)
            # Only a body that can be sent again: bytes, text or nothing.
            if not stale or not (body is None or isinstance(body, bytes | str)):
                raise
        log.info("%s closed a reused connection unanswered; sending again", self.host)
        token = _FRESH.set(True)
        try:
            return super().urlopen(method, url, body, *args, **kwargs)  # type: ignore[misc]
        finally:
            _FRESH.reset(token)

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        if conn.sock is not None and (
            _FRESH.get() or time.monotonic() - conn.idle_since > self.keepalive_expiry
        ):
            conn.close()
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.idle_since = time.monotonic()
        super()._put_conn(conn)  # type: ignore[misc]


class _HTTPPool(_GatewayPool, HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(_GatewayPool, HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


# Pool classes by scheme for urllib3's PoolManager.
POOL_CLASSES: dict[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}
