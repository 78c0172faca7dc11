"""A stream's first event: awaited before the response starts, for at most the keep-alive
period after the request arrived; past it the response starts and the event follows."""

from __future__ import annotations

import contextvars
import gc
import time
import weakref

import gevent
import pytest

from app import green
from app.backends import Stream
from app.errors import UpstreamError
from app.services import first_event

KEEPALIVE = 0.1
FAR = 30.0  # a wait the tests end long before
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class Upstream:
    """Events after pauses (gevent sleeps); records what it saw and whether it was closed."""

    def __init__(self, *steps: tuple[float, object]) -> None:
        self.steps = steps
        self.closed = False  # the events ended (closed, killed or done)
        self.close_called = False  # the stream's own close was called
        self.finished = False
        self.context: list[str] = []

    def events(self):
        try:
            for pause, item in self.steps:
                self.context.append(REQUEST_ID.get())
                gevent.sleep(pause)
                if isinstance(item, BaseException):
                    raise item
                yield item
            self.finished = True
        finally:
            self.closed = True

    def stream(self) -> Stream:
        events = self.events()

        def close() -> None:
            self.close_called = True
            events.close()

        return Stream(events, close=close)


@pytest.fixture(autouse=True)
def under_gevent(monkeypatch):
    monkeypatch.setattr(green, "patched", lambda: True)


def test_a_first_event_in_time_is_pulled_before_the_response_starts():
    upstream = Upstream((0.0, {"n": 1}), (0.0, {"n": 2}))
    stream = first_event.prime(upstream.stream(), KEEPALIVE)
    assert not stream.early_start
    assert upstream.context  # the first step ran
    assert list(stream.events) == [{"n": 1}, {"n": 2}]


def test_a_late_first_event_starts_the_response_and_follows_when_it_comes():
    upstream = Upstream((KEEPALIVE * 3, {"n": 1}), (0.0, {"n": 2}))
    stream = first_event.prime(upstream.stream(), KEEPALIVE)
    assert stream.early_start
    assert list(stream.events) == [{"n": 1}, {"n": 2}]
    assert upstream.finished


def test_the_wait_counts_from_when_the_request_arrived():
    upstream = Upstream((KEEPALIVE / 2, {"n": 1}))
    started = time.perf_counter() - KEEPALIVE  # the period is over already
    stream = first_event.prime(upstream.stream(), KEEPALIVE, started)
    assert stream.early_start
    assert list(stream.events) == [{"n": 1}]


def test_a_failure_in_time_is_raised_with_the_stream_closed():
    upstream = Upstream((0.0, UpstreamError("upstream overloaded", retryable=True)))
    with pytest.raises(UpstreamError, match="overloaded"):
        first_event.prime(upstream.stream(), KEEPALIVE)
    assert upstream.closed


def test_a_failure_after_the_start_comes_out_of_the_events():
    upstream = Upstream((KEEPALIVE * 3, UpstreamError("upstream overloaded")))
    stream = first_event.prime(upstream.stream(), KEEPALIVE)
    assert stream.early_start
    with pytest.raises(UpstreamError, match="overloaded"):
        next(iter(stream.events))


@pytest.mark.parametrize("pause", [0.0, KEEPALIVE * 3])
def test_a_stream_without_events(pause):
    def nothing():
        gevent.sleep(pause)
        yield from ()

    stream = first_event.prime(Stream(nothing()), KEEPALIVE)
    assert stream.early_start is bool(pause)
    assert list(stream.events) == []


def test_closing_a_started_stream_stops_the_wait_and_closes_the_upstream():
    upstream = Upstream((FAR, {"n": 1}))
    stream = first_event.prime(upstream.stream(), KEEPALIVE)
    assert stream.early_start and not upstream.closed
    stream.close()
    assert upstream.closed and upstream.close_called and not upstream.finished


class Gone(gevent.GreenletExit):
    """Stands for app.client_watch.ClientGone, thrown into the waiting greenlet."""


@pytest.mark.parametrize("started", [False, True])
def test_a_client_that_leaves_during_the_wait_closes_the_upstream(started):
    upstream = Upstream((FAR, {"n": 1}))
    stream = upstream.stream()

    def request():
        primed = first_event.prime(stream, KEEPALIVE)
        if started:
            assert primed.early_start
            next(iter(primed.events))

    waiting = gevent.spawn(request)
    gevent.sleep(KEEPALIVE * (2 if started else 0.5))
    waiting.kill(Gone)
    assert waiting.dead
    assert upstream.closed and not upstream.finished
    if not started:
        # Before the response, the stream itself is closed here (after it, by its body).
        assert upstream.close_called


def test_the_first_step_runs_in_the_request_s_context():
    REQUEST_ID.set("req-1")
    try:
        upstream = Upstream((KEEPALIVE * 3, {"n": 1}), (0.0, {"n": 2}))
        stream = first_event.prime(upstream.stream(), KEEPALIVE)
        assert list(stream.events) == [{"n": 1}, {"n": 2}]
        assert upstream.context == ["req-1", "req-1"]
    finally:
        REQUEST_ID.set("-")


def test_without_keepalive_or_gevent_the_first_event_is_awaited_in_place(monkeypatch):
    upstream = Upstream((KEEPALIVE * 2, {"n": 1}))
    assert not first_event.prime(upstream.stream(), 0).early_start
    monkeypatch.setattr(green, "patched", lambda: False)
    upstream = Upstream((KEEPALIVE * 2, {"n": 1}))
    stream = first_event.prime(upstream.stream(), KEEPALIVE)
    assert not stream.early_start
    assert list(stream.events) == [{"n": 1}]


class Marker:
    """Held by the backend's events: alive as long as what the request made is."""


@pytest.mark.parametrize("late", [False, True])
def test_a_failed_first_event_leaves_no_reference_cycle(late):
    marker = Marker()
    alive = weakref.ref(marker)

    def failing(held):
        gevent.sleep(KEEPALIVE * 3 if late else 0)
        raise UpstreamError("upstream overloaded", retryable=True)
        yield held

    stream = Stream(failing(marker))
    del marker
    gc.disable()
    try:
        with pytest.raises(UpstreamError):
            primed = first_event.prime(stream, KEEPALIVE)
            assert primed.early_start is late
            try:
                next(iter(primed.events))
            finally:
                primed.close()
        del stream
        primed = None
        # Freed by reference counting alone, as the request ends: no cycle to wait for.
        assert alive() is None
    finally:
        gc.enable()
