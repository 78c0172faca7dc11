"""t3chat stream parsing: both recorded formats, any chunking, errors and unknown bodies."""

from __future__ import annotations

import pytest

from app.backends.t3chat.parse import (
    Failure,
    Finish,
    LoginPage,
    ProtocolError,
    StreamParser,
    TextDelta,
)
from tests.fakes.t3chat import RECORDED_DATA_STREAM, RECORDED_SSE, RECORDED_TEXT

RECORDINGS = pytest.mark.parametrize(
    "raw", [RECORDED_DATA_STREAM, RECORDED_SSE], ids=["data-stream", "sse"]
)


def parse(pieces: list[bytes]) -> list:
    parser = StreamParser()
    events = [event for piece in pieces for event in parser.feed(piece)]
    return events + parser.close()


def text_of(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@RECORDINGS
def test_recorded_stream_in_one_read(raw):
    events = parse([raw])
    assert text_of(events) == RECORDED_TEXT
    assert [type(e) for e in events[:3]] == [TextDelta] * 3
    assert events[3] == Finish("stop")


@RECORDINGS
def test_every_split_point_gives_the_same_events(raw):
    whole = parse([raw])
    for cut in range(1, len(raw)):
        assert parse([raw[:cut], raw[cut:]]) == whole, cut


@RECORDINGS
def test_byte_by_byte_keeps_multibyte_characters_whole(raw):
    events = parse([bytes([b]) for b in raw])
    assert text_of(events) == RECORDED_TEXT
    assert "\ufffd" not in text_of(events)


@RECORDINGS
def test_events_come_out_as_soon_as_they_end(raw):
    parser = StreamParser()
    # A data-stream part ends with its line, an SSE event with the blank line after it.
    terminator = b"\n\n" if raw.startswith(b"data:") else b"\n"
    end = raw.index(terminator, raw.index(b"Hello")) + len(terminator)
    assert parser.feed(raw[: end - 1]) == []
    assert parser.feed(raw[end - 1 : end]) == [TextDelta("Hello")]


def test_crlf_line_endings():
    raw = RECORDED_SSE.replace(b"\n", b"\r\n")
    assert text_of(parse([raw[:7], raw[7:]])) == RECORDED_TEXT
    raw = RECORDED_DATA_STREAM.replace(b"\n", b"\r\n")
    assert text_of(parse([raw])) == RECORDED_TEXT


def test_data_stream_error_line():
    events = parse([b'0:"Partial"\n3:"An error occurred."\n'])
    assert events == [TextDelta("Partial"), Failure("An error occurred.")]


@pytest.mark.parametrize(
    "payload, message",
    [
        (b'{"type":"error","errorText":"Model overloaded"}', "Model overloaded"),
        (b'{"type":"error","error":{"message":"Quota"}}', "Quota"),
        (b'{"type":"error"}', "unknown error"),
    ],
)
def test_sse_error_event(payload, message):
    raw = b'data: {"type":"text-delta","delta":"Hi"}\n\ndata: ' + payload + b"\n\n"
    assert parse([raw]) == [TextDelta("Hi"), Failure(message)]


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b'0:"x"\nd:{"finishReason":"length"}\n', "length"),
        (b'0:"x"\nd:{"finishReason":"content-filter"}\n', "content_filter"),
        (b'0:"x"\nd:{"finishReason":"something-new"}\n', "stop"),
        (
            b'data: {"type":"text","text":"x"}\n\n'
            b'data: {"type":"finish","finishReason":"length"}\n\n',
            "length",
        ),
    ],
)
def test_finish_reasons(raw, reason):
    assert parse([raw]) == [TextDelta("x"), Finish(reason)]


def test_sse_done_alone_finishes_and_delta_objects_are_read():
    raw = b'data: {"type":"text-delta","delta":{"text":"Hi"}}\n\ndata: [DONE]\n\n'
    assert parse([raw]) == [TextDelta("Hi"), Finish("stop")]


def test_last_line_without_newline_is_still_read():
    assert parse([b'0:"Hi"\nd:{"finishReason":"stop"}']) == [TextDelta("Hi"), Finish("stop")]
    assert parse([b'data: {"type":"text","text":"Hi"}\n\ndata: [DONE]']) == [
        TextDelta("Hi"),
        Finish("stop"),
    ]


@pytest.mark.parametrize(
    "pieces, kind",
    [
        ([b'0:"Hel'], "truncated"),
        ([b'data: {"type":"text-delta","delta":"Hel'], "truncated"),
        ([b""], "empty"),
        ([b"\n\n  "], "empty"),
        ([b"Hello there, this is not a stream.\n"], "format"),
        ([b'{"error": "Unauthorized"}\n'], "format"),
        ([b"0:not json\n"], "json"),
        ([b"0:[1,2]\n"], "text"),
        ([b'0:"ok"\nthis is not a part\n'], "line"),
        ([b"data: {broken\n\n"], "json"),
        ([b"data: [1]\n\n"], "event"),
    ],
)
def test_unparseable_bodies(pieces, kind):
    with pytest.raises(ProtocolError) as info:
        parse(pieces)
    assert info.value.kind == kind


@pytest.mark.parametrize("raw", [b"<!DOCTYPE html><html>", b"\n  <html><body>Sign in"])
def test_html_is_recognised_at_once(raw):
    with pytest.raises(LoginPage):
        StreamParser().feed(raw)


def test_format_waits_for_the_first_full_line():
    parser = StreamParser()
    # `d` could start `d:{...}` (data stream) or `data:` (SSE): nothing is decided yet.
    assert parser.feed(b"d") == []
    assert parser.feed(b'ata: {"type":"text-delta","delta":"A"}\n\n') == [TextDelta("A")]
