"""Graceful shutdown of a worker: open streams get a grace period, then end with an error event.

gunicorn's SIGTERM handler (see config/gunicorn.conf.py) calls `Drain.begin`. From then on,
every stream checks the deadline before pulling its next event; once it has passed, the stream
raises `ShuttingDown`, which the stream body sends as its last event. Under gevent, streams
still waiting for their upstream at the deadline are woken with the same error, so a silent
upstream cannot keep a stream open until gunicorn's graceful timeout cuts it mid-line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any, TypeVar

import greenlet
from flask import Flask, current_app, has_app_context

from app import green, observe
from app.errors import APIError

log = logging.getLogger(__name__)

T = TypeVar("T")


class ShuttingDown(APIError):
    """The last event of a stream still open when the shutdown grace period ends."""

    status, type, code = 503, "server_error", "server_shutting_down"

    def __init__(self) -> None:
        super().__init__(
            "The server is shutting down and ended this stream early. Retry the request.",
            retryable=True,
        )


class Drain:
    """The shutdown state of one worker process."""

    def __init__(self, grace: float) -> None:
        self.grace = max(0.0, float(grace))
        self.deadline: float | None = None
        # Greenlets of streams blocked on their upstream right now.
        self._waiting: set[Any] = set()

    @property
    def expired(self) -> bool:
        """True once the grace period after `begin` is over."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def begin(self, interrupt: bool | None = None) -> None:
        """Start the grace period (safe to call from a signal handler, and more than once).

        `interrupt` wakes streams still waiting for their upstream at the deadline; by default
        it is on when gevent has patched this process (gunicorn's gevent worker).
        """
        if self.deadline is not None:
            return
        self.deadline = time.monotonic() + self.grace
        if interrupt is None:
            interrupt = green.patched()
        if interrupt:
            import gevent

            # A greenlet of its own: a signal handler must neither log nor block.
            gevent.spawn(self._end_waiting_at_deadline)

    def next_event(self, events: Iterator[T], exchange: observe.Exchange | None = None) -> T:
        """The next of `events` (StopIteration at their end); ShuttingDown past the deadline.

        A call, not a generator around `events`: a stream resumes one generator less per event.
        """
        self._check(exchange)
        current = greenlet.getcurrent()
        self._waiting.add(current)
        try:
            return next(events)
        except ShuttingDown:
            _mark(exchange)
            raise
        finally:
            self._waiting.discard(current)

    def _check(self, exchange: observe.Exchange | None) -> None:
        if self.expired:
            _mark(exchange)
            raise ShuttingDown()

    def _end_waiting_at_deadline(self) -> None:
        import gevent

        log.info("shutting down: open streams get %.1fs to finish", self.grace)
        gevent.sleep(self.grace)
        # Throw from the hub, where no stream runs, so that a stream that got its event in
        # the meantime is not hit while it writes to its client.
        gevent.get_hub().loop.run_callback(self._throw_into_waiting)

    def _throw_into_waiting(self) -> None:
        waiting = list(self._waiting)
        if waiting:
            log.warning("grace period over: ending %d waiting stream(s)", len(waiting))
        for glet in waiting:
            if glet in self._waiting and not glet.dead:
                glet.throw(ShuttingDown())


def _mark(exchange: observe.Exchange | None) -> None:
    if exchange is not None:
        exchange.extra["shutdown"] = True


def current_drain() -> Drain | None:
    """The drain of the current app's worker (None outside an app)."""
    return current_app.extensions.get("gateway.drain") if has_app_context() else None


def begin(app: Flask) -> None:
    """Start the grace period of `app`'s worker (called on SIGTERM)."""
    drain: Drain | None = app.extensions.get("gateway.drain")
    if drain is not None:
        drain.begin()


def init_app(app: Flask) -> None:
    """Give the app a Drain with `SHUTDOWN_GRACE_SECONDS`."""
    app.extensions["gateway.drain"] = Drain(app.config.get("SHUTDOWN_GRACE_SECONDS", 25.0))
