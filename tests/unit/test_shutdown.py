"""Graceful shutdown: streams run on during the grace period, then end with one error event."""

from __future__ import annotations

import json

import gevent
import pytest

from app import backends as backend_registry
from app import shutdown
from app.shutdown import Drain, ShuttingDown
from tests.support import openai_checks as checks
from tests.support.scripted_backend import SCRIPTED
from tests.support.sse import event_data


@pytest.fixture
def config(monkeypatch):
    """An endless scripted stream, and no grace at all once shutdown begins."""
    monkeypatch.setitem(backend_registry.BACKEND_TYPES, "scripted", SCRIPTED)
    return {
        "TESTING": True,
        "GATEWAY_API_KEYS": [],
        "SHUTDOWN_GRACE_SECONDS": 0,
        "MODELS": {
            "backends": {"endless": {"type": "scripted", "chunks": -1}},
            "models": [{"id": "endless", "backend": "endless"}],
        },
    }


def relayed(drain: Drain, events):
    """Every event `drain` lets through, as a stream body pulls them."""
    iterator = iter(events)
    while True:
        try:
            yield drain.next_event(iterator)
        except StopIteration:
            return


def test_events_pass_until_shutdown_begins():
    drain = Drain(0)
    assert list(relayed(drain, [1, 2, 3])) == [1, 2, 3]
    assert not drain.expired


def test_after_the_deadline_the_next_event_is_an_error():
    drain = Drain(0)
    events = iter(range(10))
    assert drain.next_event(events) == 0
    drain.begin(interrupt=False)
    assert drain.expired
    with pytest.raises(ShuttingDown) as caught:
        drain.next_event(events)
    assert caught.value.to_dict()["error"]["code"] == "server_shutting_down"


def test_within_the_grace_period_streams_run_on():
    drain = Drain(3600)
    drain.begin(interrupt=False)
    assert list(relayed(drain, [1, 2])) == [1, 2] and not drain.expired


def test_a_stream_waiting_on_its_upstream_is_woken_at_the_deadline():
    def silent_upstream():
        yield "first"
        gevent.sleep(60)
        yield "never"

    drain = Drain(0.05)
    received: list[str] = []

    def consume():
        try:
            for event in relayed(drain, silent_upstream()):
                received.append(event)
        except ShuttingDown as exc:
            return exc
        return None

    reader = gevent.spawn(consume)
    gevent.sleep(0)
    drain.begin(interrupt=True)
    assert isinstance(reader.get(timeout=10), ShuttingDown)
    assert received == ["first"]


def test_sse_stream_ends_with_the_error_event(app, client):
    body = {"model": "endless", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = client.post("/v1/chat/completions", json=body, buffered=False)
    chunks = iter(response.response)
    first = event_data(next(chunks).rstrip(b"\n"))
    shutdown.begin(app)
    rest = [event_data(raw.rstrip(b"\n")) for raw in chunks]
    response.close()
    error = checks.check_error_sse([first, *rest])
    assert (error.type, error.code) == ("server_error", "server_shutting_down")
    assert json.loads(first)["object"] == "chat.completion.chunk"
    metrics = client.get("/metrics").get_data(as_text=True)
    # Ending streams on shutdown is not an upstream failure.
    assert "gateway_upstream_errors_total{" not in metrics
