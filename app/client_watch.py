"""Notice a client that hung up while its request waits on an upstream, and stop the wait.

An upstream keeps generating (and billing) until its connection closes. A client that leaves
while its stream relays events is noticed at the next write, but one that leaves while the
upstream is quiet (a model thinking before its first token, a retry's backoff, a long
non-streamed answer) would only be noticed when the upstream speaks again. Under gevent, the
client's socket is watched meanwhile: when it becomes readable and a peek finds its end (no
bytes), `ClientGone` is thrown into the waiting greenlet, which closes the upstream connection
as it unwinds. nginx treats a client's end of stream during a proxied request the same way.
Bytes instead (a pipelined next request) end the watch; they are left for the server to read.
Empty lines, which a server ignores before a request, are dropped and the watch goes on.
Once a relayed stream has sent the upstream's `[DONE]` it is complete: it is not watched while
the end of the upstream's body is read, since a client may hang up at `[DONE]`.
Connections that gunicorn itself encrypts (TLS) are not watched: a peek sees records, not the
end; behind a proxy that terminates TLS (nginx), the proxy's own connection is watched.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator, Mapping
from typing import Any

import greenlet

from app import green
from app.errors import APIError

log = logging.getLogger(__name__)

_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)
_PEEK = socket.MSG_PEEK | _DONTWAIT
# Bytes looked at when the connection is readable: enough to tell empty lines from a request.
_LOOK = 64


class ClientGone(BaseException):
    """Thrown into a request's greenlet when its client closed the connection.

    A BaseException, as gevent's own Timeout: no handler meant for upstream failures (retries,
    fallbacks, error events) may take it for one.
    """


class ClientClosedRequest(APIError):
    """How a request whose client left ends, for the request log and metrics (nginx's 499)."""

    status, type, code = 499, "invalid_request_error", "client_closed_request"

    def __init__(self) -> None:
        super().__init__("The client closed the connection before the answer was complete.")


class ClientWatch:
    """Watches one client connection; `ClientGone` reaches the greenlet that armed it.

    `armed` says whether the greenlet may be interrupted now (it waits on the upstream, not
    on a write to the client). An end noticed while disarmed is kept in `gone`, and raised
    by the next `arm`.
    """

    __slots__ = ("_raw", "_watcher", "_greenlet", "armed", "gone")

    def __init__(self, raw: Any, watcher: Any) -> None:
        self._raw = raw
        self._watcher = watcher
        self._greenlet: Any = None
        self.armed = False
        self.gone = False

    @classmethod
    def of(cls, environ: Mapping[str, Any]) -> ClientWatch | None:
        """A started watch of the request's client connection; None where it cannot be had
        (no gevent, no socket from the server, TLS)."""
        sock = environ.get("gunicorn.socket")
        raw = getattr(sock, "_sock", None)  # gevent's socket wraps the OS socket
        if raw is None or not green.patched():
            return None
        if hasattr(sock, "do_handshake"):
            return None  # TLS: the OS socket carries records
        try:
            fileno = raw.fileno()
        except OSError:
            return None
        return cls.start(raw) if fileno >= 0 else None

    @classmethod
    def start(cls, raw: socket.socket) -> ClientWatch:
        """A started watch of `raw`, a non-blocking OS socket, in gevent's event loop."""
        from gevent import get_hub

        watch = cls(raw, get_hub().loop.io(raw.fileno(), 1))
        watch._watcher.start(watch._readable)
        return watch

    def arm(self) -> None:
        """From now on the current greenlet gets `ClientGone` when the client leaves."""
        if self.gone:
            raise ClientGone()
        self._greenlet = greenlet.getcurrent()
        self.armed = True

    def hang_up(self) -> None:
        """End the connection now: a client that only half-closed it must not take the
        stream cut short for a complete one (nor may the server's last chunk say so)."""
        try:
            self._raw.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone

    def close(self) -> None:
        """Stop watching (idempotent)."""
        self.armed = False
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
            watcher.close()
        self._greenlet = None

    def _readable(self) -> None:
        # Runs in gevent's hub, where no request runs: throwing from here interrupts the
        # waiting greenlet at the point where it switched out.
        if self._watcher is not None:
            # One look: the end of a stream stays readable, and would fire on every loop pass.
            self._watcher.stop()
        try:
            seen = self._raw.recv(_LOOK, _PEEK)
        except BlockingIOError:
            self._resume()
            return
        except OSError:
            seen = b""  # reset by the peer
        if seen and not seen.strip(b"\r\n"):
            # Empty lines before a next request, which a server ignores (RFC 9112, 2.2): some
            # clients send one after a body. Dropped, so that the watch can go on.
            try:
                self._raw.recv(len(seen), _DONTWAIT)
            except OSError:
                pass
            self._resume()
            return
        if seen:
            return  # a pipelined request: the server reads it after this answer
        self.gone = True
        waiting = self._greenlet
        if self.armed and waiting is not None and not waiting.dead:
            self.armed = False
            waiting.throw(ClientGone())

    def _resume(self) -> None:
        if self._watcher is not None:
            self._watcher.start(self._readable)


@contextlib.contextmanager
def upstream_wait(environ: Mapping[str, Any]) -> Iterator[None]:
    """While the body runs, a client that leaves ends it with ClientClosedRequest (499)."""
    watch = ClientWatch.of(environ)
    if watch is None:
        yield
        return
    try:
        watch.arm()
        yield
    except ClientGone:
        log.info("client went away while its request waited on the upstream")
        raise ClientClosedRequest() from None
    finally:
        watch.close()
