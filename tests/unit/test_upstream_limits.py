"""Upstream answers are bounded (size, time to the first event) and never relayed malformed:
events that are not JSON objects fail, invalid UTF-8 is replaced."""

from __future__ import annotations

import time

import pytest
import responses

from app.backends.http import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TOTAL_TIMEOUT, UpstreamHTTP
from app.backends.openai.rewrite import ModelRewriter
from app.backends.openai.stream import relay
from app.errors import APIError, UpstreamError, UpstreamTimeoutError
from tests.support.openai_upstream import trickle

BASE = "http://upstream.test/v1"
EVENT = b'data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[]}\n\n'


@pytest.fixture
def http():
    client = UpstreamHTTP("up", BASE, {"max_response_bytes": 1000, "total_timeout": 5})
    yield client
    client.close()


def test_defaults():
    client = UpstreamHTTP("up", BASE, {})
    assert (client.max_response_bytes, client.total_timeout) == (32 * 1024 * 1024, 600.0)
    assert (DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TOTAL_TIMEOUT) == (32 * 1024 * 1024, 600.0)


@pytest.mark.parametrize("stream", [False, True])
@responses.activate
def test_an_answer_over_the_limit_is_a_502_that_is_not_retried(http, stream):
    responses.post(BASE + "/chat", body=b"x" * 1001, content_type="application/json")
    response = None
    with pytest.raises(UpstreamError) as info:
        response = http.request("POST", "/chat", stream=stream)
        http.read_body(response)
    assert response is None or stream
    assert (info.value.status, info.value.code) == (502, "upstream_response_too_large")
    assert not info.value.retryable


@responses.activate
def test_an_answer_at_the_limit_is_read(http):
    responses.post(BASE + "/chat", body=b"x" * 1000, content_type="application/json")
    assert http.request("POST", "/chat").content == b"x" * 1000


@responses.activate
def test_a_stream_line_over_the_limit_fails_but_long_streams_do_not(http):
    pieces = [b"data: " + b"x" * 400] * 3
    responses.post(BASE + "/s", body=trickle(pieces), content_type="text/event-stream")
    with pytest.raises(UpstreamError):
        list(http.iter_bytes(http.request("POST", "/s", stream=True)))
    # Twenty short lines add up past the limit, and that is fine.
    responses.post(BASE + "/ok", body=trickle([b"data: " + b"y" * 90 + b"\n"] * 20))
    assert len(b"".join(http.iter_bytes(http.request("POST", "/ok", stream=True)))) == 1940


def on_error(data: bytes) -> APIError:
    return UpstreamError(data.decode())


def test_an_event_that_is_not_a_json_object_fails_the_stream():
    for data in (b"data: ping\n\n", b'data: {"id": "c", "choices": [\n\n', b"data: [1, 2]\n\n"):
        with pytest.raises(UpstreamError) as info:
            list(relay("up", [EVENT, data], ModelRewriter("gw"), on_error))
        assert info.value.code == "upstream_bad_response" and info.value.retryable


def test_unusual_spacing_in_an_event_is_still_relayed():
    spaced = b'data:  { "id": "c", "model": "m", "choices": [] } \n\ndata: [DONE]\n\n'
    out = b"".join(relay("up", [spaced], ModelRewriter("gw"), on_error))
    assert out.endswith(b"data: [DONE]\n\n") and b'"model":"gw"' in out


def test_invalid_utf8_in_an_event_is_replaced():
    bad = b'data: {"model":"m","choices":[{"delta":{"content":"caf\xc3 \xff"}}]}\n\n'
    out = b"".join(relay("up", [bad, b"data: [DONE]\n\n"], ModelRewriter("gw"), on_error))
    assert "caf\ufffd \ufffd".encode() in out
    out.decode("utf-8")


def test_no_first_event_by_the_deadline_is_a_timeout():
    chunks = iter([b"d", b"a", b"t"])
    with pytest.raises(UpstreamTimeoutError):
        list(relay("up", chunks, ModelRewriter("gw"), on_error, deadline=time.monotonic() - 1))


def test_the_deadline_ends_with_the_first_event():
    late = time.monotonic() + 0.05

    def reads():
        yield EVENT
        time.sleep(0.1)  # past the deadline, but the stream is already live
        yield b"data: [DONE]\n\n"

    out = b"".join(relay("up", reads(), ModelRewriter("gw"), on_error, deadline=late))
    assert out.endswith(b"data: [DONE]\n\n")
