"""A stream's first event, awaited before its response starts so that failures can still be
retried, but not for longer than proxies in front wait for a first byte.

Until the first event is in, a failure is still a plain error status, and may be retried or
sent to a fallback. A model that thinks long before its first token (a reasoning model, or
Anthropic's and Gemini's thinking, which the client is not shown) would keep the client
without a byte meanwhile, and proxies cut such requests (Heroku's router after 30 s, AWS's
load balancers after 60 s by default). So under gevent the first event is awaited in a greenlet
of its own: when it has not come `STREAM_KEEPALIVE_SECONDS` after the request arrived, the
response starts at once (status 200, and a `: keep-alive` comment) and the first event follows
when it comes, a failure from then on being the stream's error event. The response writer
keeps such a stream alive (app.response_writer).
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

from app import green
from app.backends import Stream

_END = object()


def prime(stream: Stream, keepalive: float, started: float | None = None) -> Stream:
    """Pull `stream`'s first event, for at most `keepalive` seconds after `started` (a
    `time.perf_counter` time, default now) when `keepalive` is positive and gevent runs;
    past that, return the stream marked `early_start`, its first event still awaited."""
    events = iter(stream.events)
    take: Callable[[], Any] = functools.partial(next, events, _END)
    if keepalive > 0 and green.patched():
        waited = time.perf_counter() - started if started is not None else 0.0
        pending = _Pending(events, stream)
        if not pending.wait(max(0.0, keepalive - waited)):
            stream.early_start = True
            stream.close = pending.close
            stream.events = itertools.chain(pending.later(), events)
            return stream
        take = pending.result
    try:
        first = take()
    except BaseException:
        stream.close()
        raise
    if first is not _END:
        stream.events = itertools.chain([first], events)
    return stream


def _first_of(events: Iterator[Any], pending: _Pending) -> None:
    # Kept, not raised: gevent would print the traceback of a greenlet that fails.
    try:
        pending.outcome = next(events, _END), None
    except BaseException as exc:
        pending.outcome = None, exc


class _Pending:
    """The first event of a stream, awaited in a greenlet of its own.

    `outcome` is (event, None) or (None, failure) once the greenlet is done. It is taken when
    read: a failure's traceback holds the greenlet's frame, which holds this object, and the
    failure and the request it refers to must be freed as it ends, not left in a cycle.
    """

    def __init__(self, events: Iterator[Any], stream: Stream) -> None:
        import gevent

        self.stream_close = stream.close
        self.outcome: tuple[Any, BaseException | None] | None = None
        # The request's context (Flask's app and request, the gateway's context variables)
        # goes with it: the first step of a backend's events runs as it would in the request.
        context = contextvars.copy_context()
        self.greenlet = gevent.spawn(context.run, _first_of, events, self)

    def wait(self, seconds: float) -> bool:
        """True when the first event (or the stream's end, or a failure) came in `seconds`."""
        try:
            self.greenlet.join(seconds)
        except BaseException:
            # The client left (app.client_watch): the upstream is closed at once.
            self.close()
            raise
        return self.greenlet.ready()

    def result(self) -> Any:
        """The first event (`_END` for none); its failure is raised."""
        outcome, self.outcome = self.outcome, None
        assert outcome is not None
        first, error = outcome
        del outcome
        if error is None:
            return first
        try:
            raise error
        finally:
            del error

    def later(self) -> Iterator[Any]:
        """The first event, once it comes (the stream's response has started)."""
        try:
            self.greenlet.join()
        except BaseException:
            # The client left, or the shutdown grace period ended (app.shutdown).
            self._stop()
            raise
        first = self.result()
        if first is not _END:
            yield first

    def close(self) -> None:
        """Stop the wait (its greenlet unwinds the backend's events), then close the stream."""
        self._stop()
        self.stream_close()

    def _stop(self) -> None:
        self.greenlet.kill()
        self.outcome = None
