"""Anthropic backend: streaming events translated to chat.completion.chunk streams."""

from __future__ import annotations

import json
import time

import pytest

from app.backends.anthropic.stream import StreamTranslator
from app.errors import APIError, UpstreamError, UpstreamTimeoutError
from tests.fakes.anthropic_wire import (
    OVERLOADED,
    PING,
    TEXT_EVENTS,
    TOOL_EVENTS,
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


def translate(raw_pieces, *, usage: bool = False, answer_tool: str | None = None) -> list[dict]:
    translator = StreamTranslator(
        "claude", "claude-3-haiku", include_usage=usage, answer_tool=answer_tool
    )
    return list(translator.translate(raw_pieces))


def content(chunks: list[dict]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_text_stream():
    chunks = translate([sse(*TEXT_EVENTS)])
    assembled = check_chat_stream(chunks, {"model": "claude-3-haiku"})
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[0]["id"] == "chatcmpl-msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
    assert assembled["choices"][0]["message"]["content"] == "Héllo wörld 👋 — ok"
    assert assembled["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in chunk for chunk in chunks)


def test_usage_chunk_when_asked():
    events = [start(10, cache_read_input_tokens=90), *TEXT_EVENTS[1:]]
    chunks = translate([sse(*events)], usage=True)
    check_chat_stream(chunks)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 15,
        "total_tokens": 115,
        "prompt_tokens_details": {"cached_tokens": 90},
    }


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_every_split_point_gives_the_same_chunks(eol):
    raw = sse(*TEXT_EVENTS, eol=eol)
    whole = [c["choices"] for c in translate([raw])]
    for cut in range(1, len(raw)):
        assert [c["choices"] for c in translate([raw[:cut], raw[cut:]])] == whole, cut


def test_byte_by_byte_tool_stream():
    raw = sse(*TOOL_EVENTS)
    byte_chunks = translate([raw[i : i + 1] for i in range(len(raw))])
    assert [c["choices"] for c in byte_chunks] == [c["choices"] for c in translate([raw])]


def test_tool_calls_are_numbered_in_their_own_order():
    tools = [
        {"type": "function", "function": {"name": "get_weather"}},
        {"type": "function", "function": {"name": "get_time"}},
    ]
    chunks = translate([sse(*TOOL_EVENTS)], usage=True)
    assembled = check_chat_stream(
        chunks,
        {"model": "claude-3-haiku", "tools": tools, "stream_options": {"include_usage": True}},
    )
    calls = [
        item
        for chunk in chunks
        if chunk["choices"]
        for item in chunk["choices"][0]["delta"].get("tool_calls") or []
    ]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert all("id" not in call for call in calls[1:] if call["index"] == 0)
    message = assembled["choices"][0]["message"]
    assert message["content"] == "Okay, let's check"
    assert [c["function"]["arguments"] for c in message["tool_calls"]] == [
        '{"location": "San Francisco, CA", "unit": "°F"}',
        "{}",
    ]
    assert [c["id"] for c in message["tool_calls"]] == [
        "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
        "toolu_02",
    ]
    assert assembled["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["prompt_tokens"] == 472


def test_json_schema_answer_streams_as_content():
    events = [
        start(),
        tool_block(0, "toolu_x", "person"),
        args(0, ""),
        args(0, '{"name": "Zo'),
        args(0, 'é", "age": 7}'),
        block_stop(0),
        *end("tool_use"),
    ]
    chunks = translate([sse(*events)], answer_tool="person")
    assembled = check_chat_stream(chunks)
    message = assembled["choices"][0]["message"]
    assert json.loads(message["content"]) == {"name": "Zoé", "age": 7}
    assert "tool_calls" not in message
    assert assembled["choices"][0]["finish_reason"] == "stop"


def test_thinking_and_unknown_events_are_skipped():
    events = [
        start(),
        block_start(0, {"type": "thinking", "thinking": ""}),
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "Hmm"},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "EqQB"},
        },
        block_stop(0),
        {"type": "some_future_event", "detail": 1},
        text_block(1),
        text(1, "Answer"),
        block_stop(1),
        *end("end_turn"),
    ]
    assert content(translate([sse(*events)])) == "Answer"


@pytest.mark.parametrize(
    "error_type, status, openai_type, code, retryable",
    [
        # Anthropic's 529 becomes the 503 OpenAI clients know as "try again later".
        ("overloaded_error", 503, "server_error", None, True),
        ("rate_limit_error", 429, "requests", "rate_limit_exceeded", True),
        # api_error (500) is an upstream failure: 502.
        ("api_error", 502, "server_error", None, True),
        ("invalid_request_error", 400, "invalid_request_error", None, False),
        ("authentication_error", 401, "invalid_request_error", "invalid_api_key", False),
        ("permission_error", 403, "invalid_request_error", None, False),
    ],
)
def test_error_event_mid_stream_raises_after_the_first_chunks(
    error_type, status, openai_type, code, retryable
):
    message = "Overloaded" if error_type == "overloaded_error" else f"Upstream says {error_type}"
    error_event = {"type": "error", "error": {"type": error_type, "message": message}}
    if error_type == "overloaded_error":
        assert error_event == OVERLOADED
    events = TEXT_EVENTS[:4] + [error_event]
    translator = StreamTranslator("claude", "claude-3-haiku", include_usage=False)
    produced = []
    with pytest.raises(APIError) as info:
        for chunk in translator.translate([sse(*events)]):
            produced.append(chunk)
    assert content(produced) == "Héllo"
    error = info.value
    assert (error.status, error.type, error.code, error.message) == (
        status,
        openai_type,
        code,
        message,
    )
    assert error.retryable is retryable


def test_stream_cut_before_message_stop_raises():
    with pytest.raises(UpstreamError, match="before the answer was complete"):
        translate([sse(*TEXT_EVENTS[:-1])])
    # A cut in the middle of an event line is no better.
    raw = sse(*TEXT_EVENTS)
    with pytest.raises(UpstreamError):
        translate([raw[: raw.index(b"message_stop") + 5]])


def test_pings_alone_past_the_deadline_are_a_timeout():
    translator = StreamTranslator("claude", "claude-3-haiku", include_usage=False)
    pings = iter([sse(PING)] * 3)
    with pytest.raises(UpstreamTimeoutError) as caught:
        list(translator.translate(pings, deadline=time.monotonic() - 1))
    assert (
        caught.value.message
        == "Upstream `claude` did not send the first event of its stream in time."
    )
    assert caught.value.retryable


def test_the_deadline_ends_with_the_first_chunk():
    translator = StreamTranslator("claude", "claude-3-haiku", include_usage=False)
    late = time.monotonic() + 0.05

    def reads():
        yield sse(PING, *TEXT_EVENTS[:4])
        time.sleep(0.1)  # past the deadline, but the client already has its first chunk
        yield sse(PING, *TEXT_EVENTS[4:])

    assert content(list(translator.translate(reads(), deadline=late))) == "Héllo wörld 👋 — ok"


def test_message_start_alone_does_not_meet_the_deadline():
    # The role chunk waits for the first real one: the client has nothing yet.
    translator = StreamTranslator("claude", "claude-3-haiku", include_usage=False)
    late = time.monotonic() + 0.05

    def reads():
        yield sse(PING, *TEXT_EVENTS[:2])
        time.sleep(0.1)
        yield sse(PING)  # past the deadline, and still nothing for the client
        yield sse(*TEXT_EVENTS[2:])

    with pytest.raises(UpstreamTimeoutError, match="first event of its stream in time"):
        list(translator.translate(reads(), deadline=late))


def test_a_later_null_does_not_erase_reported_thinking_tokens():
    events = [
        start(10, output_tokens_details={"thinking_tokens": 30}),
        *TEXT_EVENTS[1:-2],
        *end("end_turn", 40, output_tokens_details=None),
    ]
    chunks = translate([sse(*events)], usage=True)
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 30}
