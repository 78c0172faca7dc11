"""Anthropic backend: thinking in answers and streams (never shown), and the thinking blocks of
tool calls kept per worker and sent back first in their turn with the tool results."""

from __future__ import annotations

import json

import pytest
import responses

from app import create_app
from app.backends.anthropic.thinking_memory import ThinkingMemory
from tests.fakes.anthropic_wire import (
    block_start,
    block_stop,
    end,
    message,
    partial_json,
    signature,
    sse,
    start,
    text,
    text_block,
    thinking,
    tool_block,
)
from tests.support import anthropic_requests
from tests.support.anthropic_requests import BASE
from tests.support.openai_checks import check_chat_completion, check_chat_sse

config = anthropic_requests.config

URL = f"{BASE}/v1/messages"
MODEL = "claude-sonnet-4-5"
THOUGHT = {"type": "thinking", "thinking": "Paris, so get_weather.", "signature": "EqQBsig=="}
REDACTED = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3p=="}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
ASK = [{"role": "user", "content": "Weather in Paris?"}]
TOOL_ANSWER = message(
    [
        THOUGHT,
        REDACTED,
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
    ],
    "tool_use",
)
FINAL = message([{"type": "text", "text": "Sunny."}])
THINKING_EVENTS = [
    block_start(0, {"type": "thinking", "thinking": ""}),
    thinking(0, "Paris, "),
    thinking(0, "so get_weather."),
    signature(0, "EqQBsig=="),
    block_stop(0),
    block_start(1, REDACTED),
    block_stop(1),
]
TOOL_EVENTS = [
    start(),
    *THINKING_EVENTS,
    text_block(2),
    text(2, "Let me check."),
    block_stop(2),
    tool_block(3, "toolu_01", "get_weather"),
    partial_json(3, "{}"),
    block_stop(3),
    *end("tool_use"),
]


def post(client, mock, reply, **body):
    """POST a chat request answered by `reply` (a Message, or SSE bytes for a stream)."""
    body = {"model": MODEL, "messages": ASK, "reasoning_effort": "high", **body}
    if isinstance(reply, bytes):
        mock.post(URL, body=reply, content_type="text/event-stream")
    else:
        mock.post(URL, json=reply)
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.get_json()
    sent = json.loads(mock.calls[-1].request.body)
    if body.get("stream"):
        events = [e.removeprefix(b"data: ").decode() for e in response.get_data().split(b"\n\n")]
        return check_chat_sse([e for e in events if e], body), sent
    return check_chat_completion(response.get_json(), body).model_dump(), sent


def follow_up(first: dict, result: str = "18°C") -> list[dict]:
    """The conversation after the client ran the tool calls of `first`, as it echoes them."""
    reply = first["choices"][0]["message"]
    calls = [
        {"role": "tool", "tool_call_id": call["id"], "content": result}
        for call in reply["tool_calls"]
    ]
    echoed = {"role": "assistant", "content": reply["content"], "tool_calls": reply["tool_calls"]}
    return [*ASK, echoed, *calls]


def test_thinking_blocks_are_not_shown_and_usage_reports_reported_thinking(client):
    answer = message(
        [THOUGHT, REDACTED, {"type": "text", "text": "Sunny."}],
        output_tokens=120,
        output_tokens_details={"thinking_tokens": 100},
    )
    with responses.RequestsMock() as mock:
        completion, _ = post(client, mock, answer)
    assert completion["choices"][0]["message"]["content"] == "Sunny."
    assert completion["usage"]["completion_tokens"] == 120
    assert completion["usage"]["completion_tokens_details"]["reasoning_tokens"] == 100


def test_no_reasoning_tokens_unless_anthropic_reports_them(client):
    with responses.RequestsMock() as mock:
        completion, _ = post(client, mock, message([THOUGHT, {"type": "text", "text": "Hi"}]))
    assert completion["usage"]["completion_tokens_details"] is None


def test_a_stream_sends_nothing_for_thinking_and_reports_its_tokens(client):
    events = [
        start(),
        *THINKING_EVENTS,
        text_block(2),
        text(2, "Sunny."),
        block_stop(2),
        *end("end_turn", 40, output_tokens_details={"thinking_tokens": 30}),
    ]
    raw = sse(*events)
    with responses.RequestsMock() as mock:
        mock.post(URL, body=raw, content_type="text/event-stream")
        body = {
            "model": MODEL,
            "messages": ASK,
            "reasoning_effort": "low",
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        response = client.post("/v1/chat/completions", json=body)
        data = [e.removeprefix(b"data: ").decode() for e in response.get_data().split(b"\n\n") if e]
    assembled = check_chat_sse(data, body)
    assert assembled["choices"][0]["message"]["content"] == "Sunny."
    assert assembled["usage"]["completion_tokens_details"] == {"reasoning_tokens": 30}
    # The role, the text, the finish, the usage, [DONE]: thinking events send nothing.
    assert len(data) == 5


@pytest.mark.parametrize("stream", [False, True])
def test_the_tool_calls_thinking_goes_back_first_in_their_turn(client, stream):
    first_reply = sse(*TOOL_EVENTS) if stream else TOOL_ANSWER
    with responses.RequestsMock() as mock:
        first, _ = post(client, mock, first_reply, tools=[WEATHER], stream=stream)
        _, sent = post(client, mock, FINAL, tools=[WEATHER], messages=follow_up(first))
    assert sent["thinking"]["type"] == "enabled"
    assert sent["messages"][1]["content"] == [
        THOUGHT,
        REDACTED,
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}},
    ]


def test_blocks_are_kept_by_the_id_the_client_received(client):
    # A tool_use without an id gets one from the gateway: that is the id the client echoes.
    answer = message(
        [THOUGHT, {"type": "tool_use", "name": "get_weather", "input": {}}], "tool_use"
    )
    with responses.RequestsMock() as mock:
        first, _ = post(client, mock, answer, tools=[WEATHER])
        _, sent = post(client, mock, FINAL, tools=[WEATHER], messages=follow_up(first))
    call_id = first["choices"][0]["message"]["tool_calls"][0]["id"]
    assert call_id.startswith("call_")
    assert sent["messages"][1]["content"][0] == THOUGHT
    assert sent["messages"][1]["content"][1]["id"] == call_id


def test_parallel_calls_send_their_answers_blocks_once(client):
    calls = [
        {"type": "tool_use", "id": f"toolu_0{i}", "name": "get_weather", "input": {}}
        for i in (1, 2)
    ]
    with responses.RequestsMock() as mock:
        first, _ = post(client, mock, message([THOUGHT, *calls], "tool_use"), tools=[WEATHER])
        _, sent = post(client, mock, FINAL, tools=[WEATHER], messages=follow_up(first))
    assert [block["type"] for block in sent["messages"][1]["content"]] == [
        "thinking",
        "tool_use",
        "tool_use",
    ]


def test_without_the_blocks_the_tool_loop_goes_on_without_thinking(config):
    first_app, second_app = create_app(config), create_app(config)
    with responses.RequestsMock() as mock:
        first, _ = post(first_app.test_client(), mock, TOOL_ANSWER, tools=[WEATHER])
        # Another worker (or a restart) never saw the answer.
        completion, sent = post(
            second_app.test_client(), mock, FINAL, tools=[WEATHER], messages=follow_up(first)
        )
    assert completion["choices"][0]["message"]["content"] == "Sunny."
    assert "thinking" not in sent
    assert all(
        block["type"] not in ("thinking", "redacted_thinking")
        for turn in sent["messages"]
        for block in turn["content"]
    )


def test_a_new_user_message_thinks_even_when_older_blocks_are_gone(client):
    history = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_x",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_x", "content": "18°C"},
        {"role": "assistant", "content": "It is 18°C."},
        {"role": "user", "content": "And tomorrow?"},
    ]
    with responses.RequestsMock() as mock:
        _, sent = post(client, mock, FINAL, tools=[WEATHER], messages=history)
    assert sent["thinking"]["type"] == "enabled"


def test_a_later_step_of_the_loop_needs_only_the_first_steps_blocks(client):
    second_step = message(
        [{"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {}}], "tool_use"
    )
    with responses.RequestsMock() as mock:
        first, _ = post(client, mock, TOOL_ANSWER, tools=[WEATHER])
        messages = follow_up(first)
        second, _ = post(client, mock, second_step, tools=[WEATHER], messages=messages)
        reply = second["choices"][0]["message"]
        messages += [
            {"role": "assistant", "content": None, "tool_calls": reply["tool_calls"]},
            {"role": "tool", "tool_call_id": "toolu_02", "content": "19°C"},
        ]
        _, sent = post(client, mock, FINAL, tools=[WEATHER], messages=messages)
    assert sent["thinking"]["type"] == "enabled"
    assert sent["messages"][1]["content"][:2] == [THOUGHT, REDACTED]
    assert sent["messages"][3]["content"][0]["type"] == "tool_use"


def test_a_request_without_thinking_sends_no_blocks_back(client):
    with responses.RequestsMock() as mock:
        first, _ = post(client, mock, TOOL_ANSWER, tools=[WEATHER])
        _, sent = post(
            client, mock, FINAL, tools=[WEATHER], messages=follow_up(first), reasoning_effort=None
        )
    assert "thinking" not in sent
    assert sent["messages"][1]["content"][0] == {"type": "text", "text": "Let me check."}


def test_a_stream_with_a_malformed_thinking_delta_keeps_nothing(client):
    broken = [*TOOL_EVENTS]
    broken[3] = {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta"}}
    with responses.RequestsMock() as mock:
        first, _ = post(client, mock, sse(*broken), tools=[WEATHER], stream=True)
        _, sent = post(client, mock, FINAL, tools=[WEATHER], messages=follow_up(first))
    assert "thinking" not in sent


def test_the_memory_is_bounded_and_keeps_only_answers_with_blocks():
    memory = ThinkingMemory(limit=2)
    memory.remember(["a"], [THOUGHT])
    memory.remember(["b", "c"], [REDACTED])
    memory.remember(["d"], [])
    assert memory.get("a") is None
    assert memory.get("b") == memory.get("c") == (REDACTED,)
    assert memory.get("d") is None
