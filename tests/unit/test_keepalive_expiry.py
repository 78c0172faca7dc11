"""Pooled upstream connections idle past `keepalive_expiry` are closed instead of reused: a
NAT or load balancer may have dropped them without a word (a scripted server on real sockets
that would answer a reused connection as readily as a new one, so only the count of
connections tells them apart)."""

from __future__ import annotations

import time

import pytest

from app.backends import connections
from app.backends.http import UpstreamHTTP
from app.backends.openai.backend import OpenAIBackend
from tests.support.scripted_upstream import Scripted, ok


@pytest.fixture
def upstream():
    """A Scripted server answering three requests, and an UpstreamHTTP with the given expiry."""
    opened = []

    def start(**options):
        server = Scripted([[(ok(b"one"), 0)], [(ok(b"two"), 0)], [(ok(b"three"), 0)]])
        http = UpstreamHTTP("up", f"http://127.0.0.1:{server.port}", options)
        opened.extend((server, http))
        return server, http

    yield start
    for item in opened:
        item.close()


def test_a_connection_idle_past_the_expiry_is_replaced(upstream):
    server, http = upstream(keepalive_expiry=0.2)
    assert http.request("POST", "/c", data=b"{}").content == b"one"
    time.sleep(0.4)
    assert http.request("POST", "/c", data=b"{}").content == b"two"
    assert server.connections == 2


def test_a_connection_used_within_the_expiry_is_reused(upstream):
    server, http = upstream(keepalive_expiry=30)
    for expected in (b"one", b"two", b"three"):
        assert http.request("POST", "/c", data=b"{}").content == expected
    assert server.connections == 1


def test_the_expiry_counts_from_the_last_answer_not_the_connection(upstream):
    server, http = upstream(keepalive_expiry=0.5)
    for expected in (b"one", b"two", b"three"):
        time.sleep(0.3)
        assert http.request("POST", "/c", data=b"{}").content == expected
    assert server.connections == 1


def test_a_streamed_answer_read_to_its_end_starts_the_idle_time_anew(upstream):
    server, http = upstream(keepalive_expiry=0.2)
    response = http.request("POST", "/c", data=b"{}", stream=True)
    time.sleep(0.4)  # reading an answer is not idling
    assert b"".join(http.iter_bytes(response)) == b"one"
    assert http.request("POST", "/c", data=b"{}").content == b"two"
    assert server.connections == 1


def _idle_connection(http: UpstreamHTTP):
    """The connection waiting in the upstream's pool, and the pool."""
    pool = next(iter(http.session.get_adapter("http://x")._pools.values()))
    return pool.pool.queue[-1], pool


def test_by_default_a_connection_idle_for_more_than_a_minute_is_replaced(upstream):
    server, http = upstream()
    assert http.request("POST", "/c", data=b"{}").content == b"one"
    connection, pool = _idle_connection(http)
    assert pool.keepalive_expiry == connections.DEFAULT_KEEPALIVE_EXPIRY == 60.0
    connection.idle_since -= 59  # as if it had waited 59 s
    assert http.request("POST", "/c", data=b"{}").content == b"two"
    assert server.connections == 1
    connection.idle_since -= 61
    assert http.request("POST", "/c", data=b"{}").content == b"three"
    assert server.connections == 2


@pytest.mark.parametrize("value", [0, -1, float("nan"), "nan", "abc", "30", True, None])
def test_an_expiry_that_is_not_a_positive_number_stops_start_up_naming_the_backend(value):
    with pytest.raises(
        ValueError, match="backend `up`: keepalive_expiry must be a positive number"
    ):
        UpstreamHTTP("up", "http://127.0.0.1:9", {"keepalive_expiry": value})


def test_the_openai_backend_takes_the_option():
    server = Scripted([[(ok(b"{}"), 0)]])
    options = {"base_url": f"http://127.0.0.1:{server.port}/v1", "keepalive_expiry": 5}
    backend = OpenAIBackend("up", options, {})
    try:
        backend.http.request("POST", "/c", data=b"{}")
        assert _idle_connection(backend.http)[1].keepalive_expiry == 5.0
    finally:
        backend.http.close()
        server.close()
