"""Anthropic backend: the per-worker memory of thinking blocks (bounded by tool call ids and by
bytes, least recently used first) and where its blocks go back (only the turn in progress)."""

from __future__ import annotations

import responses

from app.backends.anthropic.thinking_memory import ThinkingMemory
from tests.fakes.anthropic_wire import message
from tests.support import anthropic_requests
from tests.unit.test_anthropic_thinking_answers import (
    ASK,
    FINAL,
    THOUGHT,
    TOOL_ANSWER,
    WEATHER,
    follow_up,
    post,
)

config = anthropic_requests.config

KB = 1024


def thought(n: int) -> dict:
    """A thinking block of about `n` KB."""
    return {"type": "thinking", "thinking": "x" * (n * KB), "signature": f"sig{n}"}


def test_blocks_past_the_byte_budget_go_least_recently_used_first():
    memory = ThinkingMemory(max_bytes=25 * KB)
    memory.remember(["a"], [thought(10)])
    memory.remember(["b"], [thought(10)])
    assert memory.get("a") is not None
    memory.remember(["c"], [thought(10)])
    assert memory.get("b") is None
    assert memory.get("a") is not None and memory.get("c") is not None
    assert 20 * KB < memory.size <= 25 * KB


def test_the_count_bound_also_drops_the_least_recently_used():
    memory = ThinkingMemory(limit=2)
    memory.remember(["a"], [THOUGHT])
    memory.remember(["b"], [THOUGHT])
    memory.get("a")
    memory.remember(["c"], [THOUGHT])
    assert memory.get("b") is None and memory.get("a") == memory.get("c") == (THOUGHT,)


def test_blocks_shared_by_parallel_calls_count_once():
    memory = ThinkingMemory(max_bytes=15 * KB)
    memory.remember(["a", "b", "c"], [thought(10)])
    assert memory.get("a") is memory.get("b") is memory.get("c") is not None
    assert 10 * KB < memory.size < 11 * KB
    # The answer's bytes are freed with its last call only.
    memory.remember(["a", "b"], [THOUGHT])
    assert 10 * KB < memory.size < 11 * KB
    memory.remember(["c"], [THOUGHT])
    assert memory.size < KB


def test_an_answer_larger_than_the_whole_budget_is_not_kept():
    memory = ThinkingMemory(max_bytes=5 * KB)
    memory.remember(["a"], [THOUGHT])
    memory.remember(["b"], [thought(10)])
    assert memory.get("b") is None and memory.get("a") == (THOUGHT,)


def tool_call(call_id: str) -> dict:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"},
    }


def test_only_the_turn_in_progress_gets_its_blocks_back(client):
    second_call = message(
        [THOUGHT, {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {}}],
        "tool_use",
    )
    with responses.RequestsMock() as mock:
        first, _ = post(client, mock, TOOL_ANSWER, tools=[WEATHER])
        # The first loop ends with an answer; a new question starts a second loop.
        messages = [
            *follow_up(first),
            {"role": "assistant", "content": "It is 18°C."},
            {"role": "user", "content": "And in Lyon?"},
        ]
        second, _ = post(client, mock, second_call, tools=[WEATHER], messages=messages)
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [tool_call("toolu_02")]},
            {"role": "tool", "tool_call_id": "toolu_02", "content": "20°C"},
        ]
        _, sent = post(client, mock, FINAL, tools=[WEATHER], messages=messages)
    assert sent["thinking"]["type"] == "enabled"
    kinds = [[block["type"] for block in turn["content"]] for turn in sent["messages"]]
    # The first loop's assistant turn goes as the client sent it, without its thinking.
    assert kinds[1] == ["text", "tool_use"]
    assert kinds[5] == ["thinking", "tool_use"]


def test_a_new_user_message_sends_no_blocks_back(client):
    with responses.RequestsMock() as mock:
        first, _ = post(client, mock, TOOL_ANSWER, tools=[WEATHER])
        messages = [
            *follow_up(first),
            {"role": "assistant", "content": "It is 18°C."},
            {"role": "user", "content": "Thanks!"},
        ]
        _, sent = post(client, mock, FINAL, tools=[WEATHER], messages=messages)
    assert sent["thinking"]["type"] == "enabled"
    assert sent["messages"][0]["content"][0]["text"] == ASK[0]["content"]
    assert all(
        block["type"] not in ("thinking", "redacted_thinking")
        for turn in sent["messages"]
        for block in turn["content"]
    )
