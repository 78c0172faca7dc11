"""Anthropic backend: Messages API answers translated to `chat.completion` bodies."""

from __future__ import annotations

import json

import pytest
import responses

from tests.fakes import anthropic_wire as wire
from tests.fakes.anthropic_wire import gateway_models
from tests.support.openai_checks import check_chat_completion

BASE = "https://api.anthropic.test"


@pytest.fixture
def config(config, monkeypatch):
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-unit-key")
    return {**config, "MODELS": gateway_models(BASE, "TEST_ANTHROPIC_KEY")}


def message(content: list[dict], stop_reason: str = "end_turn", **usage) -> dict:
    return wire.message(content, stop_reason, "claude-3-opus-20240229", **usage)


def answer(client, reply: dict, **body) -> dict:
    """The gateway's chat.completion for one upstream reply (checked against the spec)."""
    request = {"model": "claude-3-opus", "messages": [{"role": "user", "content": "Hi"}], **body}
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", json=reply)
        response = client.post("/v1/chat/completions", json=request)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    check_chat_completion(body, request)
    return body


def test_text_answer(client):
    body = answer(client, message([{"type": "text", "text": "Hello! How can I help?"}]))
    assert body["id"] == "chatcmpl-msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert body["model"] == "claude-3-opus"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello! How can I help?", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 2095, "completion_tokens": 503, "total_tokens": 2598}


def test_thinking_is_skipped_and_text_blocks_are_joined(client):
    content = [
        {"type": "thinking", "thinking": "Let me think…", "signature": "EqQBCgIYAhIM1gbcDa9"},
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
        {"type": "text", "text": "The answer "},
        {"type": "text", "text": "is 42."},
    ]
    assert answer(client, message(content))["choices"][0]["message"]["content"] == (
        "The answer is 42."
    )


def test_tool_use_blocks_become_tool_calls(client):
    content = [
        {"type": "text", "text": "I'll check both."},
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA", "unit": "°C"},
        },
        {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}},
    ]
    tools = [
        {"type": "function", "function": {"name": "get_weather"}},
        {"type": "function", "function": {"name": "get_time"}},
    ]
    body = answer(client, message(content, "tool_use"), tools=tools)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check both."
    assert choice["message"]["tool_calls"] == [
        {
            "id": "toolu_01A09q90qw90lq917835lq9",
            "type": "function",
            "function": {
                "name": "get_weather",
                "arguments": '{"location":"San Francisco, CA","unit":"°C"}',
            },
        },
        {
            "id": "toolu_01B",
            "type": "function",
            "function": {"name": "get_time", "arguments": "{}"},
        },
    ]


def test_tool_calls_without_text_have_null_content(client):
    content = [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}]
    tools = [{"type": "function", "function": {"name": "f"}}]
    message_ = answer(client, message(content, "tool_use"), tools=tools)["choices"][0]["message"]
    assert message_["content"] is None
    assert len(message_["tool_calls"]) == 1


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("model_context_window_exceeded", "length"),
        (None, "stop"),
    ],
)
def test_stop_reasons(client, stop_reason, finish_reason):
    reply = message([{"type": "text", "text": "…"}], stop_reason)
    assert answer(client, reply)["choices"][0]["finish_reason"] == finish_reason


def test_cache_tokens_count_as_prompt_tokens(client):
    reply = message(
        [{"type": "text", "text": "ok"}],
        input_tokens=10,
        cache_creation_input_tokens=200,
        cache_read_input_tokens=1000,
        output_tokens=5,
    )
    assert answer(client, reply)["usage"] == {
        "prompt_tokens": 1210,
        "completion_tokens": 5,
        "total_tokens": 1215,
        "prompt_tokens_details": {"cached_tokens": 1000},
    }


PERSON = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
        },
    },
}


def test_json_schema_answer_arrives_as_content(client):
    content = [
        {"type": "tool_use", "id": "toolu_9", "name": "person", "input": {"name": "Zoé", "age": 7}}
    ]
    body = answer(client, message(content, "tool_use"), response_format=PERSON)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert "tool_calls" not in choice["message"]
    assert json.loads(choice["message"]["content"]) == {"name": "Zoé", "age": 7}


def test_json_schema_with_client_tools_keeps_real_tool_calls(client):
    content = [{"type": "tool_use", "id": "toolu_2", "name": "lookup", "input": {"q": "Zoé"}}]
    tools = [{"type": "function", "function": {"name": "lookup"}}]
    body = answer(client, message(content, "tool_use"), response_format=PERSON, tools=tools)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "lookup"


def test_completions_endpoint_goes_through_chat(client):
    reply = message([{"type": "text", "text": " world"}], "max_tokens")
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", json=reply)
        response = client.post(
            "/v1/completions", json={"model": "claude-3-opus", "prompt": "Hello", "max_tokens": 5}
        )
        sent = json.loads(mock.calls[0].request.body)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["object"] == "text_completion"
    assert body["choices"][0]["text"] == " world"
    assert body["choices"][0]["finish_reason"] == "length"
    assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
    assert sent["max_tokens"] == 5
