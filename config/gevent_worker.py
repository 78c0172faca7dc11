"""gunicorn's gevent worker as the gateway runs it: idle keep-alive connections end at shutdown."""

from __future__ import annotations

import socket
from typing import Any

from gevent import getcurrent, spawn
from gunicorn.workers.ggevent import GeventWorker


class GatewayGeventWorker(GeventWorker):
    """gunicorn's GeventWorker, which on shutdown also closes the client connections that are
    waiting between two requests.

    gunicorn lets a worker exit once every connection has ended, and a keep-alive connection
    waiting for its next request only ends at the keep-alive timeout: with SDK clients, which
    keep their connections open, every restart took the whole graceful timeout. Requests in
    flight and open streams are not touched; they end as before (see app.shutdown), their
    responses with `Connection: close`.
    """

    def init_process(self) -> None:
        """Start tracking connections, then start as gunicorn's GeventWorker does."""
        # Greenlet -> its client socket, for every connection; greenlets now between requests.
        self._clients: dict[Any, socket.socket] = {}
        self._between_requests: set[Any] = set()
        super().init_process()

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        """Serve one connection (gunicorn's own loop), remembering its socket meanwhile."""
        current = getcurrent()
        self._clients[current] = client
        try:
            super().handle(listener, client, addr)
        finally:
            self._clients.pop(current, None)
            self._between_requests.discard(current)

    def timeout_ctx(self) -> _BetweenRequests:
        """gunicorn's keep-alive wait for the next request, during which shutdown may end it."""
        return _BetweenRequests(self._between_requests, super().timeout_ctx())

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: stop as gunicorn does, and end the connections waiting between requests."""
        super().handle_exit(sig, frame)
        # Out of the signal handler: a greenlet of its own.
        spawn(self._end_waiting_connections)

    def _end_waiting_connections(self) -> None:
        for waiting in list(self._between_requests):
            client = self._clients.get(waiting)
            if client is None:
                continue
            try:
                # The waiting read sees the end of the stream and gunicorn closes the connection.
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the client


class _BetweenRequests:
    """A keep-alive wait (gevent's Timeout) during which its greenlet is listed in `waiting`."""

    __slots__ = ("waiting", "timeout", "greenlet")

    def __init__(self, waiting: set[Any], timeout: Any) -> None:
        self.waiting = waiting
        self.timeout = timeout

    def __enter__(self) -> Any:
        self.greenlet = getcurrent()
        self.waiting.add(self.greenlet)
        return self.timeout.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        self.waiting.discard(self.greenlet)
        return self.timeout.__exit__(*exc)
