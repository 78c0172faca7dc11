"""Anthropic streams: the role chunk waits for real content; the gateway's own stop sequences."""

from __future__ import annotations

import json

import pytest

from app.backends.anthropic.stream import StreamTranslator
from app.errors import APIError
from tests.fakes.anthropic_wire import (
    OVERLOADED,
    PING,
    TEXT_EVENTS,
    block_start,
    block_stop,
    end,
    sse,
    start,
    text,
    text_block,
    tool_block,
)
from tests.fakes.anthropic_wire import partial_json as args
from tests.support.openai_checks import check_chat_stream


def translate(raw_pieces: list[bytes], *, usage: bool = False) -> list[dict]:
    return list(
        StreamTranslator("claude", "claude-3-haiku", include_usage=usage).translate(raw_pieces)
    )


def content(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_the_role_chunk_waits_for_the_first_real_chunk():
    translator = StreamTranslator("claude", "claude-3-haiku", include_usage=False)
    pieces = [sse(start(), PING), sse(text_block(0), PING), sse(*TEXT_EVENTS[3:])]
    read = []

    def reads():
        for piece in pieces:
            read.append(piece)
            yield piece

    events = iter(translator.translate(reads()))
    first = next(events)
    # message_start, pings and an empty text block give nothing on their own.
    assert len(read) == 3
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert next(events)["choices"][0]["delta"] == {"content": "Héllo"}


@pytest.mark.parametrize(
    "opening",
    [
        [start()],
        [start(), PING, PING],
        [start(), text_block(0), PING],
        [start(), block_start(0, {"type": "thinking", "thinking": ""}), block_stop(0)],
    ],
)
def test_an_error_before_any_content_comes_before_any_chunk(opening):
    translator = StreamTranslator("claude", "claude-3-haiku", include_usage=False)
    events = iter(translator.translate([sse(*opening, OVERLOADED)]))
    with pytest.raises(APIError) as info:
        next(events)
    assert (info.value.status, info.value.retryable) == (503, True)


def test_a_tool_only_stream_starts_with_the_role():
    events = [start(), tool_block(0, "toolu_1", "get_time"), block_stop(0), *end("tool_use")]
    chunks = translate([sse(*events)])
    check_chat_stream(chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[1]["choices"][0]["delta"]["tool_calls"][0]["id"] == "toolu_1"


def test_an_empty_answer_is_the_role_then_the_finish():
    chunks = translate([sse(start(), *end("end_turn"))], usage=True)
    check_chat_stream(chunks)
    assert [c["choices"][0]["delta"] if c["choices"] else None for c in chunks] == [
        {"role": "assistant", "content": "", "refusal": None},
        {},
        None,
    ]


def stop_translate(events: list[dict], stops: list[str], *, usage: bool = False) -> tuple:
    """(chunks, how many events the translator read) for a stream with local stop sequences."""
    translator = StreamTranslator("claude", "claude-3-haiku", include_usage=usage, stops=stops)
    read = []

    def pieces():
        for event in events:
            read.append(event)
            yield sse(event)

    return list(translator.translate(pieces())), len(read)


def test_a_whitespace_stop_ends_the_stream_at_its_match():
    events = [
        start(10),
        text_block(0),
        text(0, "Hel"),
        text(0, "lo\n"),
        {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 7}},
        text(0, "\nmore text"),
        text(0, "never read"),
        block_stop(0),
        *end("end_turn", 40),
    ]
    chunks, read = stop_translate(events, ["\n\n"], usage=True)
    check_chat_stream(chunks)
    assert content(chunks) == "Hello"
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    # "\n" was held back while it could still begin "\n\n".
    assert deltas == ["", "Hel", "lo", None]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    # The usage Anthropic had reported by then; nothing after the match was read.
    assert chunks[-1]["usage"] == {"prompt_tokens": 10, "completion_tokens": 7, "total_tokens": 17}
    assert read == 6


def test_held_back_text_goes_out_when_no_match_follows():
    events = [
        start(),
        text_block(0),
        text(0, "a \n"),
        text(0, " b "),
        block_stop(0),
        *end("max_tokens"),
    ]
    chunks, _ = stop_translate(events, [" \n\n", "\t"])
    assert content(chunks) == "a \n b "
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_a_stop_does_not_touch_tool_calls():
    events = [
        start(),
        text_block(0),
        text(0, "Let me check\n"),
        block_stop(0),
        tool_block(1, "toolu_1", "f"),
        args(1, '{"q": "a\\n\\nb"}'),
        block_stop(1),
        text_block(2),
        text(2, "\nDone"),
        block_stop(2),
        *end("tool_use"),
    ]
    chunks, _ = stop_translate(events, ["\n\n"])
    assembled = check_chat_stream(chunks)
    message = assembled["choices"][0]["message"]
    # Held text goes out before the call: a tool call between texts breaks a match.
    assert message["content"] == "Let me check\n\nDone"
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"q": "a\n\nb"}
    assert assembled["choices"][0]["finish_reason"] == "tool_calls"


def test_a_stop_after_a_tool_call_keeps_the_call_and_finishes_with_tool_calls():
    events = [
        start(),
        tool_block(0, "toolu_1", "f"),
        args(0, '{"q": 1}'),
        block_stop(0),
        text_block(1),
        text(1, "Done\n\nmore"),
        text(1, "never read"),
        block_stop(1),
        *end("tool_use"),
    ]
    chunks, read = stop_translate(events, ["\n\n"])
    assembled = check_chat_stream(chunks)
    choice = assembled["choices"][0]
    assert choice["message"]["content"] == "Done"
    assert choice["message"]["tool_calls"][0]["id"] == "toolu_1"
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {"q": 1}
    # The client still has to run the call it was sent.
    assert choice["finish_reason"] == "tool_calls"
    assert read == 6
