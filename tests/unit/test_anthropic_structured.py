"""Anthropic backend: `json_schema` through Anthropic's structured outputs (`output_config.format`),
answered by the fake Anthropic API in process, which keeps the documented rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from app.backends.anthropic.prefill import CONTINUE
from app.backends.anthropic.structured import native_format
from tests.fakes import anthropic as fake
from tests.fakes.anthropic_wire import (
    block_stop,
    end,
    gateway_models,
    message,
    sse,
    start,
    text_block,
)
from tests.fakes.anthropic_wire import text as text_delta
from tests.support.anthropic_requests import fake_messages_api
from tests.support.openai_checks import check_chat_completion, check_chat_sse, check_invalid_param
from tests.support.provider_e2e import PERSON

BASE = "https://api.anthropic.test"
SONNET = "claude-sonnet-4-5"
SCHEMA = PERSON["json_schema"]["schema"]
FORMAT = {"format": {"type": "json_schema", "schema": SCHEMA}}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
HI = [{"role": "user", "content": "Hi there"}]


@pytest.fixture
def config(config, monkeypatch):
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", fake.API_KEY)
    return {**config, "MODELS": gateway_models(BASE, "TEST_ANTHROPIC_KEY")}


@pytest.fixture
def upstream():
    """The fake Anthropic API (tests/fakes/anthropic.py) behind the Messages API's URL."""
    with fake_messages_api() as mock:
        yield mock


def chat(client, upstream, **body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the checked chat.completion or assembled stream, the body sent upstream)."""
    request = {"model": SONNET, "messages": HI, "response_format": PERSON, **body}
    response = client.post("/v1/chat/completions", json=request)
    assert response.status_code == 200, response.get_data(as_text=True)
    sent = json.loads(upstream.calls[-1].request.body)
    if not request.get("stream"):
        completion = response.get_json()
        check_chat_completion(completion, request)
        return completion, sent
    events = [e.removeprefix(b"data: ").decode() for e in response.get_data().split(b"\n\n") if e]
    return check_chat_sse(events, request), sent


def answer_of(completion: dict[str, Any]) -> tuple[Any, str, dict[str, Any]]:
    """(the JSON content, finish_reason, message) of the first choice."""
    choice = completion["choices"][0]
    return json.loads(choice["message"]["content"]), choice["finish_reason"], choice["message"]


@pytest.mark.parametrize(
    ("model", "native"),
    [
        ("claude-sonnet-4-5", True),
        ("claude-sonnet-4-5-20250929", True),
        ("claude-haiku-4-5-20251001", True),
        ("claude-opus-4-5", True),
        ("claude-opus-4-6", True),
        ("claude-sonnet-4-6", True),
        ("claude-opus-4-7", True),
        ("claude-next-model", True),
        ("claude-3-haiku-20240307", False),
        ("claude-3-5-sonnet-latest", False),
        ("claude-3-7-sonnet-20250219", False),
        ("claude-sonnet-4-0", False),
        ("claude-sonnet-4-20250514", False),
        ("claude-opus-4-0", False),
        ("claude-opus-4-20250514", False),
        ("claude-opus-4-1-20250805", False),
        ("claude-2.1", False),
    ],
)
def test_which_models_take_output_config_format(model, native):
    assert native_format(model) is native


@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_is_sent_as_output_config_format(client, upstream, stream):
    completion, sent = chat(client, upstream, stream=stream)
    assert sent["output_config"] == FORMAT
    assert "tools" not in sent and "tool_choice" not in sent
    content, finish, message_ = answer_of(completion)
    assert content == {"name": "name-value", "age": 42}
    assert finish == "stop" and "tool_calls" not in message_


@pytest.mark.parametrize("model", ["claude-3-haiku", "claude-opus-4-1"])
def test_older_models_keep_the_forced_answer_tool(client, upstream, model):
    completion, sent = chat(client, upstream, model=model)
    assert "output_config" not in sent
    assert sent["tool_choice"] == {"type": "tool", "name": "person"}
    assert answer_of(completion)[:2] == ({"name": "name-value", "age": 42}, "stop")


@pytest.mark.parametrize(
    ("model", "thinking", "output_config"),
    [
        (SONNET, {"type": "enabled", "budget_tokens": 8192}, FORMAT),
        ("claude-opus-4-6", {"type": "adaptive"}, {**FORMAT, "effort": "medium"}),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_json_schema_works_with_reasoning_effort(
    client, upstream, model, thinking, output_config, stream
):
    completion, sent = chat(client, upstream, model=model, reasoning_effort="medium", stream=stream)
    assert (sent["thinking"], sent["output_config"]) == (thinking, output_config)
    assert answer_of(completion)[:2] == ({"name": "name-value", "age": 42}, "stop")


def test_client_tools_keep_their_tool_choice(client, upstream):
    completion, sent = chat(client, upstream, tools=[WEATHER], reasoning_effort="low")
    assert [tool["name"] for tool in sent["tools"]] == ["get_weather"]
    assert "tool_choice" not in sent and sent["output_config"] == FORMAT
    assert answer_of(completion)[0] == {"name": "name-value", "age": 42}
    messages = [{"role": "user", "content": "Please use get_weather"}]
    called, _ = chat(client, upstream, tools=[WEATHER], messages=messages)
    choice = called["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


@pytest.mark.parametrize("stream", [False, True])
def test_a_refusal_is_a_content_filter_finish(client, upstream, stream):
    messages = [{"role": "user", "content": "[refuse] something"}]
    completion, _ = chat(client, upstream, messages=messages, stream=stream)
    choice = completion["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == (
        fake.REFUSAL,
        "content_filter",
    )


def test_a_final_assistant_message_is_history(client, upstream):
    messages = [*HI, {"role": "assistant", "content": '{"name": "Zo'}]
    completion, sent = chat(client, upstream, messages=messages)
    # Sent so at once: not refused first, as a model that refuses prefills is.
    assert len(upstream.calls) == 1
    assert sent["messages"][-1] == {"role": "user", "content": [{"type": "text", "text": CONTINUE}]}
    assert answer_of(completion)[0] == {"name": "name-value", "age": 42}


def test_a_loose_schema_is_closed_and_its_constraints_described(client, upstream):
    schema = {
        "type": "object",
        "properties": {
            "age": {"type": "integer", "minimum": 0, "description": "Years."},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3},
            "home": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    loose = {"type": "json_schema", "json_schema": {"name": "p", "schema": schema, "strict": False}}
    completion, sent = chat(client, upstream, response_format=loose)
    properties = sent["output_config"]["format"]["schema"]["properties"]
    assert sent["output_config"]["format"]["schema"]["additionalProperties"] is False
    assert properties["age"] == {
        "type": "integer",
        "description": "Years.\n\nAlso keep to: minimum: 0.",
    }
    assert properties["tags"]["description"] == "Also keep to: maxItems: 3."
    assert properties["tags"]["items"] == {
        "type": "string",
        "description": "Also keep to: maxLength: 20.",
    }
    assert properties["home"]["additionalProperties"] is False
    assert answer_of(completion)[0] == {
        "age": 42,
        "tags": ["tags-value"],
        "home": {"city": "Paris"},
    }


NODE = {
    "type": "object",
    "properties": {"children": {"type": "array", "items": {"$ref": "#"}}},
    "required": ["children"],
    "additionalProperties": False,
}
MAP = {"type": "object", "additionalProperties": {"type": "integer"}}


@pytest.mark.parametrize("schema", [NODE, MAP, {"type": "object"}])
def test_a_schema_structured_outputs_refuse_falls_back_to_the_forced_tool(client, upstream, schema):
    format_ = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    _, sent = chat(client, upstream, response_format=format_)
    assert "output_config" not in sent
    assert sent["tool_choice"] == {"type": "tool", "name": "answer"}
    assert sent["tools"][0]["input_schema"] == schema


def test_such_a_schema_with_reasoning_effort_is_a_400(client):
    format_ = {"type": "json_schema", "json_schema": {"name": "tree", "schema": NODE}}
    request = {"model": SONNET, "messages": HI, "response_format": format_}
    with responses.RequestsMock():
        response = client.post("/v1/chat/completions", json={**request, "reasoning_effort": "low"})
    assert response.status_code == 400
    error = check_invalid_param(response.get_json(), "response_format")
    assert error.code == "unsupported_value"
    assert "recursive schemas are not supported" in error.message


def test_leaving_thinking_off_in_a_tool_loop_keeps_the_format(client, upstream):
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"},
    }
    messages = [
        *HI,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18°C"},
    ]
    _, sent = chat(
        client,
        upstream,
        model="claude-opus-4-6",
        messages=messages,
        tools=[WEATHER],
        reasoning_effort="high",
    )
    # The loop's thinking is unknown here: no thinking, but the answer keeps its schema.
    assert "thinking" not in sent and sent["output_config"] == FORMAT


JSON_LINES = '{\n  "name": "Zoé",\n  "age": 7\n}'


def test_the_gateways_own_stops_leave_a_json_answer_whole(client):
    request = {"model": SONNET, "messages": HI, "response_format": PERSON, "stop": ["\n"]}
    reply = message([{"type": "text", "text": JSON_LINES}], "end_turn", SONNET)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", json=reply)
        completion = client.post("/v1/chat/completions", json=request).get_json()
    assert completion["choices"][0]["message"]["content"] == JSON_LINES
    events = [start(), text_block(0), text_delta(0, JSON_LINES[:9]), text_delta(0, JSON_LINES[9:])]
    raw = sse(*events, block_stop(0), *end("end_turn"))
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", body=raw, content_type="text/event-stream")
        response = client.post("/v1/chat/completions", json={**request, "stream": True})
    data = [e.removeprefix(b"data: ").decode() for e in response.get_data().split(b"\n\n") if e]
    assert check_chat_sse(data, request)["choices"][0]["message"]["content"] == JSON_LINES
