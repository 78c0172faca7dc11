"""`total_timeout` is a hard deadline: every wait on the upstream ends by it, not only the checks
made when data arrives.

Until a whole non-streamed answer, or a stream's first event, is in, no wait (for the headers,
for the next body bytes) may outlast the time left, whatever `read_timeout` allows. Upstreams
here are scripted on real sockets (`tests.support.scripted_upstream`) and stay silent for far
longer than `TOTAL` but well under `READ`: the old behaviour answered only once they spoke
again (or at the read timeout), so the "well before" bounds cannot pass by chance.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask

from app.backends import discovery
from app.backends.http import UpstreamHTTP
from app.errors import UpstreamTimeoutError
from tests.support.openai_upstream import chat_body, make_app, sse_payloads
from tests.support.scripted_upstream import CHUNKED, Scripted, chunk, ok

READ = 10.0
TOTAL = 0.5
# Far past the deadline, short of the read timeout: the old behaviour waited this long.
SILENCE = 0.8 * READ
WELL_BEFORE = READ / 2
BASE = "http://upstream.test/v1"
ANSWER = b'{"id":"c","object":"chat.completion","model":"m","choices":[]}'
EVENT = b'data: {"model":"up","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
DONE = b"data: [DONE]\n\n"
LATE_ANSWER = f"Upstream `up` did not send its whole answer within {TOTAL:g} seconds."
LATE_EVENT = "Upstream `up` did not send the first event of its stream in time."
Script = list[tuple[bytes | None, float]]


@pytest.fixture
def serve(serve: Callable[..., UpstreamHTTP]) -> Callable[..., UpstreamHTTP]:
    """The shared `serve` (tests/unit/conftest.py) with `READ` / `TOTAL` unless overridden."""

    def start(*scripts: Script, **options: float) -> UpstreamHTTP:
        return serve(*scripts, **{"read_timeout": READ, "total_timeout": TOTAL, **options})

    return start


@pytest.fixture
def gateway(monkeypatch) -> Iterator[Callable[..., Flask]]:
    """A gateway app whose backend `up` (`READ` / `TOTAL` unless overridden) is one scripted
    upstream."""
    servers: list[Scripted] = []

    def start(*scripts: Script, models: list | None = None, **backend: object) -> Flask:
        server = Scripted(list(scripts))
        servers.append(server)
        url = f"http://127.0.0.1:{server.port}/v1"
        options = {"base_url": url, "read_timeout": READ, "total_timeout": TOTAL, **backend}
        return make_app(monkeypatch, backend=options, models=models)

    yield start
    for server in servers:
        server.close()


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """What `call` returns, and the seconds it took."""
    start = time.monotonic()
    return call(), time.monotonic() - start


def test_the_wait_for_the_headers_is_no_longer_than_the_total_timeout(upstream):
    upstream.get(BASE + "/x", json={})
    UpstreamHTTP("up", BASE, {"read_timeout": 20, "total_timeout": 2}).request("GET", "/x")
    UpstreamHTTP("up", BASE, {"read_timeout": 20, "total_timeout": 30}).request("GET", "/x")
    timeouts = [call.request.req_kwargs["timeout"] for call in upstream.calls]
    assert timeouts == [(5.0, 2.0), (5.0, 20.0)]


@pytest.mark.parametrize(
    ("stream", "message"), [(False, "within 2 seconds"), (True, "first event of its stream")]
)
def test_headers_cut_short_by_the_deadline_time_out_as_a_late_answer(upstream, stream, message):
    upstream.post(BASE + "/x", body=requests.ReadTimeout())
    upstream.post(BASE + "/x", body=requests.ReadTimeout())
    with pytest.raises(UpstreamTimeoutError, match=message) as late:
        UpstreamHTTP("up", BASE, {"read_timeout": 20, "total_timeout": 2}).request(
            "POST", "/x", stream=stream
        )
    assert late.value.retryable
    # With the read timeout the shorter wait, it is the read timeout that ended it.
    with pytest.raises(UpstreamTimeoutError, match="did not answer in time"):
        UpstreamHTTP("up", BASE, {"read_timeout": 1, "total_timeout": 2}).request(
            "POST", "/x", stream=stream
        )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_headers_later_than_the_deadline_are_a_504_at_the_deadline(serve, stream):
    http = serve([(ok(ANSWER), SILENCE)])
    start = time.monotonic()
    with pytest.raises(UpstreamTimeoutError) as late:
        http.request("POST", "/c", data=b"{}", stream=stream)
    assert time.monotonic() - start < WELL_BEFORE
    assert late.value.message == (LATE_EVENT if stream else LATE_ANSWER)
    assert late.value.retryable


# An answer that ends its connection hands the socket over to the response's reader.
HEADS = {
    "keep-alive": b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(ANSWER),
    "close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
}


@pytest.mark.parametrize("head", HEADS.values(), ids=HEADS)
def test_a_body_that_stalls_is_a_504_at_the_deadline_not_at_the_read_timeout(serve, head):
    http = serve([(head + ANSWER[:10], 0), (ANSWER[10:], SILENCE)])
    start = time.monotonic()
    with pytest.raises(UpstreamTimeoutError) as late:
        http.request("POST", "/c", data=b"{}")
    assert time.monotonic() - start < WELL_BEFORE
    assert late.value.message == LATE_ANSWER and late.value.retryable


def test_a_body_read_within_the_deadline_frees_its_connection_for_a_patient_stream(serve):
    # Its reads were shortened; the stream that reuses the connection waits `read_timeout`.
    http = serve(
        [(ok(ANSWER), 0)],
        [(CHUNKED, 0), (chunk(b"data: {}\n\n"), 2 * TOTAL), (b"0\r\n\r\n", 0)],
    )
    assert http.request("POST", "/c", data=b"{}").content == ANSWER
    response = http.request("POST", "/s", data=b"{}", stream=True)
    assert b"".join(http.iter_bytes(response)) == b"data: {}\n\n"
    pool = next(iter(http.session.get_adapter("http://x")._pools.values()))
    assert pool.num_connections == 1


SSE_UNTIL_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
SILENT_STREAMS = {
    "nothing": [(CHUNKED, 0), (None, SILENCE)],
    # A body that ends with its connection: the response holds the socket (see HEADS).
    "nothing-until-close": [(SSE_UNTIL_CLOSE, 0), (None, SILENCE)],
    "half-an-event": [(CHUNKED + chunk(EVENT[:20]), 0), (None, SILENCE)],
    "pings": [(CHUNKED, 0), *[(chunk(b": ping\n\n"), 0.1)] * int(SILENCE * 10)],
    # Neither SSE nor JSON by its media type: the first bytes are waited for to tell.
    "untyped": [(CHUNKED.replace(b"text/event-stream", b"text/plain"), 0), (None, SILENCE)],
}


@pytest.mark.parametrize("script", SILENT_STREAMS.values(), ids=SILENT_STREAMS)
def test_a_stream_without_a_first_event_is_a_504_at_the_deadline(gateway, script):
    client = gateway(script).test_client()
    response, took = timed(lambda: client.post("/v1/chat/completions", json=chat_body(stream=True)))
    assert took < WELL_BEFORE
    assert response.status_code == 504
    assert response.get_json()["error"]["message"] == LATE_EVENT


def test_after_its_first_event_a_stream_waits_the_read_timeout_again(gateway):
    script = [(CHUNKED + chunk(EVENT), 0), (chunk(DONE), 2 * TOTAL), (b"0\r\n\r\n", 0)]
    client = gateway(script).test_client()
    response = client.post("/v1/chat/completions", json=chat_body(stream=True))
    assert response.status_code == 200
    assert sse_payloads(response.get_data())[-1] == "[DONE]"


def test_streams_read_without_a_deadline_wait_the_read_timeout_after_the_headers(serve):
    # As a backend without a first-event deadline reads them (t3.chat).
    http = serve([(CHUNKED, 0), (chunk(b"data: {}\n\n"), 2 * TOTAL), (b"0\r\n\r\n", 0)])
    response = http.request("POST", "/s", data=b"{}", stream=True)
    assert b"".join(http.iter_bytes(response)) == b"data: {}\n\n"


MODELS = [{"id": "local/*", "backend": "up", "strip_prefix": "local/"}]
LISTING = b'{"object":"list","data":[{"id":"m1","object":"model"}]}'
# The listing one byte at a time: each byte well within any read timeout, the whole far past.
TRICKLE: Script = [
    (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(LISTING), 0),
    *[(LISTING[i : i + 1], 0.2) for i in range(len(LISTING))],
]


@pytest.mark.parametrize("cap", ["total_timeout", "listing_cap"])
def test_model_discovery_is_waited_for_as_a_whole(gateway, monkeypatch, caplog, cap):
    if cap == "total_timeout":
        app = gateway(TRICKLE, models=MODELS, discover_models=True)
    else:
        monkeypatch.setattr(discovery, "LIST_TIMEOUT", TOTAL)
        app = gateway(TRICKLE, models=MODELS, discover_models=True, total_timeout=600)
    caplog.set_level(logging.WARNING)
    response, took = timed(lambda: app.test_client().get("/v1/models"))
    assert took < WELL_BEFORE
    assert response.status_code == 200
    assert [m["id"] for m in response.get_json()["data"]] == []
    assert "model listing failed" in caplog.text and LATE_ANSWER in caplog.text
