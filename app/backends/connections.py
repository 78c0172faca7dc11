"""urllib3 connections to upstreams, with less work and memory per request than the stock ones.

Each differs from urllib3's own in one way, and only in how, never in what goes on the wire:
a request's head and its bytes body leave in one `send` (urllib3 sends them apart: two
system calls and two TCP segments per request), a pooled connection is checked with one
real zero-timeout poll where the OS has one (gevent's cooperative poll would set up and fire
a timer for the same answer), and responses are read through a 2 KiB buffer instead of
8 KiB (a held stream keeps its buffer for its whole life).
"""

from __future__ import annotations

import http.client
import select
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

# Read buffer of each upstream response. A status line with its headers, or a stream event,
# fits; larger reads bypass the buffer. At 1,000 held streams: 2 MB instead of 8.
RESPONSE_BUFFER = 2048


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
    """http.client's response, reading through a 2 KiB buffer."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(_SocketReader(sock), *args, **kwargs)


class _Lean:
    """What the gateway's connections change in urllib3's (mixed in before them)."""

    sock: Any
    response_class = _LeanResponse
    # The head of the request being sent while it waits for its body; None when not waiting.
    _held: bytes | None = None

    def request(self, method: str, url: str, body: Any = None, *args: Any, **kwargs: Any) -> None:
        """urllib3's request, with the head and a bytes body sent together."""
        if self.sock is None:
            # Connecting (a proxy tunnel's own exchange included) happens before any holding.
            self.connect()  # type: ignore[attr-defined]
        self._held = b"" if isinstance(body, bytes) and body else None
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


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


# Pool classes by scheme for urllib3's PoolManager.
POOL_CLASSES: dict[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}
