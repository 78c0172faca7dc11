"""Stream events that carry no chunk: `[DONE]` padded with blanks ends the stream as `[DONE]`
does, and an event without data (`data:` alone) is dropped, never relayed or an error."""

from __future__ import annotations

import time

import pytest

from app.backends.openai.rewrite import ModelRewriter
from app.backends.openai.stream import relay
from app.backends.openai.usage import UsageCounter
from app.errors import UpstreamError, UpstreamTimeoutError
from tests.support.openai_checks import check_error
from tests.support.openai_upstream import (
    CHAT_URL,
    StreamGateway,
    chat_body,
    chunk,
    sse_body,
    sse_payloads,
    stream_chunks,
    trickle,
)

PADDED = [b"data: [DONE] \n\n", b"data: [DONE]\t\n\n", b"data:  [DONE] \t \r\n\r\n"]
BLANK = [b"data:\n\n", b"data\n\n", b"data: \n\n", b"data:  \t\n\n"]


def body_with(end: bytes, texts: tuple[str, ...] = ("Hel", "lo")) -> bytes:
    return sse_body(stream_chunks(*texts), done=False) + end


def expected(texts: tuple[str, ...] = ("Hel", "lo")) -> bytes:
    return sse_body([{**event, "model": "gw"} for event in stream_chunks(*texts)])


@pytest.fixture
def gateway(monkeypatch) -> StreamGateway:
    return StreamGateway(monkeypatch)


@pytest.mark.parametrize("end", PADDED)
def test_a_padded_done_ends_the_stream_as_done(end):
    left: list[list[bytes]] = []
    reads = iter([body_with(end), b"after"])
    events = relay(
        "up", reads, ModelRewriter("gw"), UpstreamError, finish=lambda rest: left.append(list(rest))
    )
    assert b"".join(events) == expected()
    assert left == [[b"after"]]  # the end of the body is read as after `[DONE]`


@pytest.mark.parametrize("end", PADDED)
def test_the_usage_chunk_asked_for_comes_before_a_padded_done(end):
    counter = UsageCounter("chat", chat_body(), "real-model")
    out = b"".join(
        relay("up", [body_with(end)], ModelRewriter("gw"), UpstreamError, counter=counter)
    )
    *chunks, usage, done = sse_payloads(out)
    assert done == "[DONE]" and usage["choices"] == [] and usage["usage"]["completion_tokens"]


@pytest.mark.parametrize("data", [b"[DONE]x", b"[DONE] [DONE]", b"[[DONE]]"])
def test_only_blanks_may_pad_the_marker(data):
    events = relay(
        "up", [body_with(b"data: " + data + b"\n\n")], ModelRewriter("gw"), UpstreamError
    )
    with pytest.raises(UpstreamError, match="not a JSON object"):
        list(events)


@pytest.mark.parametrize("end", PADDED)
def test_through_the_gateway_a_padded_done_is_a_clean_end(gateway, upstream, end):
    upstream.post(CHAT_URL, body=body_with(end), content_type="text/event-stream")
    response, body, exchange = gateway()
    assert response.status_code == 200 and body == expected()
    assert exchange.stream_error is None


@pytest.mark.parametrize("blank", BLANK)
def test_an_event_without_data_is_dropped(blank):
    events = stream_chunks("Hel", "lo")
    body = blank + sse_body(events[:2], done=False) + blank + sse_body(events[2:])
    for reads in ([body], [body[i : i + 5] for i in range(0, len(body), 5)]):
        assert b"".join(relay("up", reads, ModelRewriter("gw"), UpstreamError)) == expected()


def test_an_event_without_data_does_not_count_as_the_first_event():
    # Only the first chunk with data decides how the stream's chunks are rewritten.
    first = {**stream_chunks("a")[0], "created": 1700000000.5}
    out = b"".join(
        relay("up", [b"data:\n\n", sse_body([first])], ModelRewriter("gw"), UpstreamError)
    )
    assert sse_payloads(out)[0]["created"] == 1700000000


def test_events_without_data_do_not_end_the_wait_for_the_first_event():
    def reads():
        yield b"data:\n\n"
        time.sleep(0.2)
        yield b"data:\n\n"
        yield sse_body(stream_chunks("late"))

    deadline = time.monotonic() + 0.1
    events = relay("up", reads(), ModelRewriter("gw"), UpstreamError, deadline=deadline)
    with pytest.raises(UpstreamTimeoutError):
        list(events)


@pytest.mark.parametrize("blank", BLANK)
def test_a_finished_stream_without_done_may_end_with_an_event_without_data(
    gateway, upstream, blank
):
    upstream.post(CHAT_URL, body=body_with(blank), content_type="text/event-stream")
    response, body, exchange = gateway()
    assert body == expected() and exchange.stream_error is None


def test_a_stream_of_events_without_data_only_is_cut_short(gateway, upstream):
    upstream.post(CHAT_URL, body=b"data:\n\n" * 3, content_type="text/event-stream")
    response, body, _ = gateway()
    assert response.status_code == 502
    assert check_error(response.get_json(), 502).code == "upstream_stream_incomplete"


# Events without data after a finished answer, in every split of the reads: none ends it.
ENDS = [*BLANK, b"event: ping\ndata:\n\n", b"data:\n\ndata:\n\n", b": ping\n\n"]


def splits(body: bytes, end: bytes) -> list[list[bytes]]:
    """`body` then `end` read at once, in two reads, and `end` in reads of its own."""
    return [[body + end], [body, end], [body, end, end], [body, *(bytes([b]) for b in end)]]


@pytest.mark.parametrize("end", ENDS)
def test_a_finished_stream_without_done_ends_with_done_however_its_reads_were_split(end):
    for reads in splits(body_with(b""), end):
        assert b"".join(relay("up", reads, ModelRewriter("gw"), UpstreamError)) == expected()


@pytest.mark.parametrize("end", ENDS)
def test_an_unfinished_stream_stays_cut_short_however_its_reads_were_split(end):
    # The last event with data decides, wherever the events without data fell.
    unfinished = sse_body(stream_chunks("Hel", "lo")[:-1], done=False)
    more = sse_body([chunk({"content": "more"})], done=False)
    for reads in [*splits(unfinished, end), [body_with(b""), more, end]]:
        with pytest.raises(UpstreamError) as caught:
            b"".join(relay("up", reads, ModelRewriter("gw"), UpstreamError))
        assert caught.value.code == "upstream_stream_incomplete"


def test_through_the_gateway_a_ping_read_after_the_finish_chunk_still_gets_done(gateway, upstream):
    body = trickle([body_with(b""), b"event: ping\ndata:\n\n"])
    upstream.post(CHAT_URL, body=body, content_type="text/event-stream")
    response, relayed, exchange = gateway(stream_options={"include_usage": True})
    *chunks, usage, done = sse_payloads(relayed)
    assert chunks == sse_payloads(expected())[:-1] and done == "[DONE]"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0
    assert exchange.stream_error is None
