"""Anthropic backend: answers and stream events that break the Messages API's shape are 502s."""

from __future__ import annotations

import json

import pytest
import responses

from tests.fakes.anthropic_wire import (
    block_start,
    block_stop,
    end,
    message,
    sse,
    start,
    text,
    text_block,
    tool_block,
)
from tests.support import anthropic_requests
from tests.support.anthropic_requests import BASE
from tests.support.openai_checks import (
    check_chat_completion,
    check_chat_sse,
    check_error,
    check_error_sse,
)

# The shared fixture, bound here so that pytest finds it.
config = anthropic_requests.config
REQUEST = {"model": "claude-3-haiku", "messages": [{"role": "user", "content": "Hi"}]}
DEEP = "[" * 100_000 + "]" * 100_000


def post(client, **mock_args):
    """The gateway's answer to REQUEST (plus `stream` when the mock answers with events)."""
    stream = mock_args.get("content_type") == "text/event-stream"
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", **mock_args)
        response = client.post("/v1/chat/completions", json={**REQUEST, "stream": stream})
        data = response.get_data()
    return response, data


def events(data: bytes) -> list[str]:
    return [e.removeprefix(b"data: ").decode() for e in data.split(b"\n\n") if e]


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "text", "text": 5}],
        [{"type": "tool_use", "id": "toolu_1", "name": 7, "input": {}}],
        [{"type": "tool_use", "id": 5, "name": "f", "input": {}}],
        [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": "x"}],
    ],
)
def test_a_malformed_block_is_a_bad_response(client, content):
    response, _ = post(client, json=message(content, "tool_use"))
    assert response.status_code == 502
    assert check_error(response.get_json(), 502).code == "upstream_bad_response"


def test_an_absurdly_deep_answer_is_a_bad_response(client):
    body = '{"type": "message", "content": [], "x": ' + DEEP + "}"
    response, _ = post(client, body=body, content_type="application/json")
    assert response.status_code == 502
    assert check_error(response.get_json(), 502).code == "upstream_bad_response"


@pytest.mark.parametrize(
    "usage",
    [{"input_tokens": "many", "output_tokens": 3}, {"input_tokens": [], "output_tokens": 3}],
)
def test_token_counts_that_are_not_numbers_are_ignored(client, usage):
    reply = {**message([{"type": "text", "text": "ok"}]), "usage": usage}
    response, _ = post(client, json=reply)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    check_chat_completion(body, REQUEST)
    assert body["usage"]["completion_tokens"] == 3


@pytest.mark.parametrize("count", ["1e400", "Infinity", "NaN", "true"])
def test_token_counts_that_are_not_finite_numbers_count_as_zero(client, count):
    reply = json.dumps(message([{"type": "text", "text": "ok"}]))
    reply = reply.replace('"input_tokens": 2095', f'"input_tokens": {count}', 1)
    assert count in reply
    response, _ = post(client, body=reply, content_type="application/json")
    assert response.status_code == 200, response.get_json()
    check_chat_completion(response.get_json(), REQUEST)
    assert response.get_json()["usage"]["prompt_tokens"] == 0
    usage = {"input_tokens": float("nan"), "output_tokens": float("inf")}
    opening = {"type": "message_start", "message": {**start()["message"], "usage": usage}}
    raw = sse(opening, text_block(0), text(0, "ok"), block_stop(0), *end("end_turn"))
    request = {**REQUEST, "stream": True, "stream_options": {"include_usage": True}}
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", body=raw, content_type="text/event-stream")
        data = client.post("/v1/chat/completions", json=request).get_data()
    assembled = check_chat_sse(events(data), request)
    assert assembled["usage"]["prompt_tokens"] == 0


def test_a_streamed_tool_call_without_an_id_gets_one(client):
    raw = sse(
        start(),
        block_start(0, {"type": "tool_use", "name": "f", "input": {}}),
        block_stop(0),
        *end("tool_use"),
    )
    tools = [{"type": "function", "function": {"name": "f"}}]
    request = {**REQUEST, "stream": True, "tools": tools}
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", body=raw, content_type="text/event-stream")
        data = client.post("/v1/chat/completions", json=request).get_data()
    assembled = check_chat_sse(events(data), request)
    call = assembled["choices"][0]["message"]["tool_calls"][0]
    assert call["id"].startswith("call_") and call["function"]["name"] == "f"


def test_a_stop_reason_that_is_not_a_string_ends_normally(client):
    reply = message([{"type": "text", "text": "ok"}], ["end_turn"])
    response, _ = post(client, json=reply)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["choices"][0]["finish_reason"] == "stop"


def test_a_streamed_stop_reason_that_is_not_a_string_ends_normally(client):
    delta = {"type": "message_delta", "delta": {"stop_reason": ["end_turn"]}, "usage": {}}
    raw = sse(start(), text_block(0), text(0, "ok"), block_stop(0), delta, {"type": "message_stop"})
    response, data = post(client, body=raw, content_type="text/event-stream")
    assembled = check_chat_sse(events(data), {**REQUEST, "stream": True})
    assert assembled["choices"][0]["finish_reason"] == "stop"


TEXT_DELTA = {"type": "content_block_delta", "index": 0}
BAD_STREAMS = {
    "block is a string": [
        start(),
        {"type": "content_block_start", "index": 0, "content_block": "x"},
    ],
    "delta is a string": [start(), text_block(0), {**TEXT_DELTA, "delta": "x"}],
    "index is a list": [start(), block_start([0], {"type": "text", "text": ""})],
    "text is a number": [
        start(),
        text_block(0),
        {**TEXT_DELTA, "delta": {"type": "text_delta", "text": 5}},
    ],
    "arguments are a number": [
        start(),
        tool_block(0, "toolu_1", "f"),
        {**TEXT_DELTA, "delta": {"type": "input_json_delta", "partial_json": 5}},
    ],
    "tool name is a number": [start(), block_start(0, {"type": "tool_use", "id": "t", "name": 6})],
    "message is a list": [{"type": "message_start", "message": []}],
    "opening text is a number": [start(), block_start(0, {"type": "text", "text": 5})],
}


# A tool call's start is a chunk of its own: its bad arguments can only come after one.
BEFORE_ANY_CHUNK = {k: v for k, v in BAD_STREAMS.items() if k != "arguments are a number"}


@pytest.mark.parametrize("events_", list(BEFORE_ANY_CHUNK.values()), ids=list(BEFORE_ANY_CHUNK))
def test_a_malformed_event_before_any_chunk_is_a_bad_response(client, events_):
    raw = sse(*events_, *end("end_turn"))
    response, _ = post(client, body=raw, content_type="text/event-stream")
    assert response.status_code == 502
    assert check_error(response.get_json(), 502).code == "upstream_bad_response"


@pytest.mark.parametrize("events_", list(BAD_STREAMS.values())[:6], ids=list(BAD_STREAMS)[:6])
def test_a_malformed_event_after_content_is_an_error_event(client, events_):
    # Text in a block of its own comes first; the malformed events use block index 0 and 1 on.
    opening = [start(), text_block(9), text(9, "Hello"), block_stop(9)]
    raw = sse(*opening, *events_[1:], *end("end_turn"))
    response, data = post(client, body=raw, content_type="text/event-stream")
    assert response.status_code == 200
    assert check_error_sse(events(data)).code == "upstream_bad_response"


@pytest.mark.parametrize("data", [b"{not json", b"[1]", DEEP.encode()])
def test_an_event_that_is_no_json_object_is_a_bad_response(client, data):
    raw = sse(start()) + b"event: content_block_start\ndata: " + data + b"\n\n"
    response, _ = post(client, body=raw, content_type="text/event-stream")
    assert response.status_code == 502
    assert check_error(response.get_json(), 502).code == "upstream_bad_response"
