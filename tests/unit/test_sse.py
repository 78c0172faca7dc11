"""The incremental SSE decoders: any chunking, any line ending, UTF-8 kept whole."""

from __future__ import annotations

import pytest

from app.backends.sse import RawSSEDecoder, RawSSEEvent, SSEDecoder, SSEEvent, iter_sse

BODY = (
    ": comment\n"
    "event: delta\n"
    "id: 7\n"
    'data: {"text": "héllo 😀"}\n'
    "\n"
    "data: line one\n"
    "data:line two\n"
    "\n"
    "retry: 100\n"
    "data: [DONE]\n"
    "\n"
).encode()
EXPECTED = [
    SSEEvent('{"text": "héllo 😀"}', "delta", "7"),
    SSEEvent("line one\nline two", "message", "7"),
    SSEEvent("[DONE]", "message", "7"),
]


def decode_in_pieces(data: bytes, size: int) -> list[SSEEvent]:
    return list(iter_sse(data[i : i + size] for i in range(0, len(data), size)))


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 13, 1000])
def test_every_chunking_gives_the_same_events(size):
    assert decode_in_pieces(BODY, size) == EXPECTED


@pytest.mark.parametrize("eol", [b"\r\n", b"\r"])
@pytest.mark.parametrize("size", [1, 2, 7])
def test_crlf_and_cr_line_endings(eol, size):
    assert decode_in_pieces(BODY.replace(b"\n", eol), size) == EXPECTED


def test_a_multibyte_character_split_across_reads_stays_whole():
    decoder = SSEDecoder()
    data = "data: 😀é\n\n".encode()
    split = data.index(b"\xf0") + 2  # inside the 4-byte emoji
    assert decoder.feed(data[:split]) == []
    assert decoder.feed(data[split:]) == [SSEEvent("😀é")]


def test_raw_events_keep_their_bytes():
    decoder = RawSSEDecoder()
    events = decoder.feed(b"event: error\ndata: \xf0\x9f\x98\x80\n\n")
    assert events == [RawSSEEvent(b"\xf0\x9f\x98\x80", b"error", None)]


def test_invalid_utf8_is_replaced_not_fatal():
    assert list(iter_sse([b"data: \xff\xfe ok\n\n"])) == [SSEEvent("\ufffd\ufffd ok")]


def test_a_leading_bom_is_ignored_even_when_split():
    assert list(iter_sse([b"\xef", b"\xbb\xbfdata: x\n\n"])) == [SSEEvent("x")]


def test_a_crlf_split_between_reads_is_one_line_end():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r\n") == [SSEEvent("a")]


def test_flush_dispatches_finished_lines_and_drops_a_cut_line():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: whole\ndata: cut mid-w") == []
    assert decoder.flush() == [SSEEvent("whole")]
    assert decoder.truncated


def test_flush_of_a_clean_end_is_not_truncated():
    decoder = RawSSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\r") == [RawSSEEvent(b"a")]
    assert decoder.pending  # the CR ended the line `data: b`; no blank line yet
    assert decoder.flush() == [RawSSEEvent(b"b")]
    assert not decoder.truncated


def test_pending_reports_an_event_without_its_blank_line():
    decoder = RawSSEDecoder()
    decoder.feed(b"data: a\n")
    assert decoder.pending
    decoder.feed(b"\n")
    assert not decoder.pending


def test_many_lines_in_one_read():
    body = b"".join(b"data: %d\n\n" % i for i in range(5000))
    events = RawSSEDecoder().feed(body)
    assert [e.data for e in events] == [b"%d" % i for i in range(5000)]


def test_whole_events_per_read_take_the_short_path_without_losing_names_or_ids():
    decoder = RawSSEDecoder()
    reads = [b"data: first\n\n", b"event: error\n", b"data: named\n\n", b"id: 9\n\n"]
    reads.append(b"data: x\n\n")
    events = [event for read in reads for event in decoder.feed(read)]
    assert events == [
        RawSSEEvent(b"first"),
        RawSSEEvent(b"named", b"error"),
        RawSSEEvent(b"x", b"", b"9"),
    ]


@pytest.mark.parametrize(
    "read", [b"data: a\nb\n\n", b"data: a\r\n\r\n", b"data:a\n\n", b"data: a\n\n\n", b": ping\n\n"]
)
def test_reads_that_are_not_one_plain_event_take_the_full_parser(read):
    assert RawSSEDecoder().feed(b"data: warm\n\n") == [RawSSEEvent(b"warm")]
    fast, slow = RawSSEDecoder(), RawSSEDecoder()
    fast.feed(b"data: warm\n\n")
    assert fast.feed(read) == [e for part in (read[:1], read[1:]) for e in slow.feed(part)]


def test_a_lone_cr_ends_the_event_in_the_read_that_brings_it():
    decoder = RawSSEDecoder()
    assert decoder.feed(b"data: a\r\r") == [RawSSEEvent(b"a")]
    assert decoder.feed(b"data: b\r") == []
    assert decoder.feed(b"\r") == [RawSSEEvent(b"b")]


@pytest.mark.parametrize("size", [1, 2, 3, 8])
def test_an_lf_after_a_read_ending_in_cr_completes_that_crlf(size):
    body = b"data: a\r\n\r\ndata: b\r\rdata: c\r\n\r\n"
    events = decode_in_pieces(body, size)
    assert events == [SSEEvent("a"), SSEEvent("b"), SSEEvent("c")]


def test_a_blank_line_after_a_cr_ended_read_still_ends_the_event():
    decoder = RawSSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []  # the LF of `data: a\r\n`, not a blank line
    assert decoder.feed(b"\n") == [RawSSEEvent(b"a")]


def test_a_large_event_is_kept_in_pieces_until_its_line_ends():
    # Joining the pending line on every read would cost time quadratic in the event's size.
    decoder = RawSSEDecoder()
    piece = b"x" * 16384
    assert decoder.feed(b"data: " + piece) == []
    for _ in range(63):
        assert decoder.feed(piece) == []
    assert len(decoder._parts) == 64
    [event] = decoder.feed(b"\n\n")
    assert len(event.data) == 64 * 16384


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("size", [1, 2, 3, 4, 1000])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_a_leading_bom_is_skipped_by_the_raw_decoder_however_it_is_read(size, eol):
    body = (BOM + b"data: a\n\ndata: b\n\n").replace(b"\n", eol)
    decoder = RawSSEDecoder()
    events = [e for i in range(0, len(body), size) for e in decoder.feed(body[i : i + size])]
    assert [e.data for e in events + decoder.flush()] == [b"a", b"b"]
    assert not decoder.truncated


def test_only_a_leading_bom_is_skipped():
    # Anywhere else it is part of the line: here of a field name nobody knows.
    body = b"data: a\n\n" + BOM + b"data: b\n\n" + b"data: " + BOM + b"c\n\n"
    assert [e.data for e in RawSSEDecoder().feed(body)] == [b"a", BOM + b"c"]
    assert [e.data for e in RawSSEDecoder().feed(BOM + BOM + b"data: x\n\n")] == []


@pytest.mark.parametrize("line", [b"data", b"data:", b"data: "])
def test_a_data_field_without_a_value_is_an_empty_data_line(line):
    # As the SSE spec has it: the event is dispatched, with empty data.
    warm = RawSSEDecoder()
    warm.feed(b"data: warm\n\n")  # past the first read: the short path may be taken
    assert warm.feed(line + b"\n\n") == RawSSEDecoder().feed(line + b"\n\n") == [RawSSEEvent(b"")]
    assert RawSSEDecoder().feed(line + b"\ndata: x\n\n") == [RawSSEEvent(b"\nx")]
    assert list(iter_sse([line + b"\n", b"\n"])) == [SSEEvent("")]


def test_a_data_line_without_a_value_and_no_blank_line_is_dispatched_at_the_end():
    decoder = RawSSEDecoder()
    assert decoder.feed(b"data:\n") == []
    assert decoder.flush() == [RawSSEEvent(b"")] and not decoder.truncated
