"""`reasoning_effort` on Claude end to end: openai SDK → gunicorn gateway → fake Anthropic, whose
thinking rules (tests/fakes/anthropic_thinking.py) every request here has to keep."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.e2e.test_anthropic_e2e import CLIENT_KEY, WEATHER, start_anthropic_gateway, start_fake
from tests.support.provider_e2e import HI, client_fixtures, last_upstream, server_fixtures

pytestmark = pytest.mark.slow

ANSWER = "Hello from fake Claude ✓ — you said: Hi there"
fake, gateway = server_fixtures("anthropic_thinking", start_fake, start_anthropic_gateway)
gateway_server, sdk, plain_sdk = client_fixtures(CLIENT_KEY)


def test_reasoning_effort_thinks_and_hides_the_thinking(sdk, fake):
    completion = sdk.chat.completions.create(
        model="claude-sonnet-4-5", messages=HI, reasoning_effort="high"
    )
    assert completion.choices[0].message.content == ANSWER
    usage = completion.usage
    assert 0 < usage.completion_tokens_details.reasoning_tokens < usage.completion_tokens
    sent = last_upstream(fake)["body"]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert sent["max_tokens"] == 16384 + 4096


def test_a_streamed_answer_thinks_too(sdk, fake):
    chunks = list(
        sdk.chat.completions.create(
            model="claude-sonnet-4-5",
            messages=HI,
            reasoning_effort="low",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens > 0
    assert last_upstream(fake)["body"]["thinking"]["budget_tokens"] == 2048


def test_newer_models_think_adaptively(sdk, fake):
    completion = sdk.chat.completions.create(
        model="claude-opus-4-6", messages=HI, reasoning_effort="medium"
    )
    assert completion.choices[0].message.content == ANSWER
    sent = last_upstream(fake)["body"]
    assert (sent["thinking"], sent["output_config"]) == ({"type": "adaptive"}, {"effort": "medium"})


def ask(sdk: openai.OpenAI, messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
    """One request of the tool loop: the assistant message the client gets (streamed or not)."""
    request = dict(
        model="claude-sonnet-4-5", messages=messages, tools=[WEATHER], reasoning_effort="medium"
    )
    if not stream:
        return (
            sdk.chat.completions.create(**request).choices[0].message.model_dump(exclude_none=True)
        )
    content, calls = "", {}
    for chunk in sdk.chat.completions.create(**request, stream=True):
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for call in delta.tool_calls or []:
            entry = calls.setdefault(
                call.index,
                {"id": call.id, "type": "function", "function": {"name": call.function.name}},
            )
            entry["function"]["arguments"] = (
                entry["function"].get("arguments", "") + call.function.arguments
            )
    message = {"role": "assistant", "content": content or None}
    return {**message, "tool_calls": list(calls.values())} if calls else message


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_loop_sends_the_thinking_back_with_the_results(sdk, fake, stream):
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Please use get_weather"}]
    first = ask(sdk, messages, stream)
    call = first["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    messages += [first, {"role": "tool", "tool_call_id": call["id"], "content": "18°C and sunny"}]
    second = ask(sdk, messages, stream)
    assert second["content"] == "Tool results: 18°C and sunny"
    sent = last_upstream(fake)["body"]
    # The fake checks the blocks' signatures: they went back exactly as Anthropic sent them.
    assert sent["thinking"]["type"] == "enabled"
    assert [block["type"] for block in sent["messages"][1]["content"]] == [
        "thinking",
        "redacted_thinking",
        "tool_use",
    ]


def test_a_second_tool_loop_gets_only_its_own_thinking_back(sdk, fake):
    messages: list[dict[str, Any]] = []
    for result in ("18°C and sunny", "9°C and rainy"):
        messages.append({"role": "user", "content": "Please use get_weather"})
        answer = ask(sdk, messages, stream=False)
        call = answer["tool_calls"][0]
        messages += [answer, {"role": "tool", "tool_call_id": call["id"], "content": result}]
        messages.append(ask(sdk, messages, stream=False))
    assert messages[-1]["content"] == "Tool results: 9°C and rainy"
    kinds = [
        [block["type"] for block in turn["content"]]
        for turn in last_upstream(fake)["body"]["messages"]
    ]
    # The first loop is over: its assistant turns go without thinking; the one in progress
    # starts with its own blocks (whose signatures the fake checks).
    assert kinds[1] == ["tool_use"] and kinds[3] == ["text"]
    assert kinds[5] == ["thinking", "redacted_thinking", "tool_use"]


def test_sampling_that_thinking_refuses_is_a_clear_400(plain_sdk):
    with pytest.raises(openai.BadRequestError) as refused:
        plain_sdk.chat.completions.create(
            model="claude-sonnet-4-5", messages=HI, reasoning_effort="high", temperature=0.2
        )
    error = refused.value
    assert (error.code, error.param) == ("unsupported_value", "temperature")
    assert "Only the default (1) value is supported." in error.message
