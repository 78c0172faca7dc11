"""The mock backend's tool calls through the gateway: arguments, choices, streams and limits."""

from __future__ import annotations

import json

import jsonschema
import pytest

from app.backends.base import Call
from app.backends.mock import MockBackend
from app.routing import Route
from tests.support.body_checks import check_chat_completion, check_error
from tests.unit.mock_helpers import (
    ASK,
    TIME,
    WEATHER,
    GetWeather,
    chat,
    messages_of,
    stream,
    user,
)


def test_tool_call_arguments_come_from_the_text_and_fit_the_schema(client):
    answer = chat(client, messages=user(ASK), tools=[WEATHER, TIME])
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["function"]["name"] == "GetWeather"
    arguments = call["function"]["arguments"]
    assert " " not in arguments.replace("'", ""), "arguments are compact JSON"
    assert json.loads(arguments) == {
        "location": {"city": "Paris", "country": "France"},
        "days": 3,
        "unit": "fahrenheit",
    }


def test_named_tools_are_called_in_parallel(client):
    text = "Call get_time for 'Europe/Oslo' and GetWeather for 'Oslo' 2 days"
    answer = chat(client, messages=user(text), tools=[WEATHER, TIME])
    calls = answer["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_time", "GetWeather"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"zone": "Europe/Oslo"}
    assert len({c["id"] for c in calls}) == 2
    single = chat(client, messages=user(text), tools=[WEATHER, TIME], parallel_tool_calls=False)
    assert len(single["choices"][0]["message"]["tool_calls"]) == 1


def test_tool_choice_none_and_named(client):
    none = chat(client, messages=user(ASK), tools=[WEATHER], tool_choice="none")
    assert none["choices"][0]["finish_reason"] == "stop"
    named = {"type": "function", "function": {"name": "get_time"}}
    answer = chat(client, messages=user(ASK), tools=[WEATHER, TIME], tool_choice=named)
    assert answer["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_time"


def test_unknown_named_tool_is_a_400(client):
    named = {"type": "function", "function": {"name": "missing"}}
    body = {"model": "mock", "messages": user("x"), "tools": [TIME], "tool_choice": named}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert check_error(response.get_json(), 400).param.startswith("tool_choice")


def test_after_a_tool_result_the_answer_is_text_about_it(client):
    first = chat(client, messages=user(ASK), tools=[WEATHER])
    call = first["choices"][0]["message"]["tool_calls"][0]
    history = [
        *user(ASK),
        first["choices"][0]["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 24 C"},
    ]
    answer = chat(client, messages=history, tools=[WEATHER])
    content = answer["choices"][0]["message"]["content"]
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert 'GetWeather returned "Sunny, 24 C"' in content


def test_streamed_tool_calls_add_up_to_the_answer(client):
    body = {
        "model": "gpt-4o",
        "messages": user("Call get_time for 'UTC' and GetWeather for 'Rome' 5 days"),
        "tools": [WEATHER, TIME],
        "n": 2,
        "stream_options": {"include_usage": True},
    }
    answer = chat(client, **body)
    chunks, assembled = stream(client, **body)
    assert messages_of(assembled) == messages_of(answer)
    assert [c["finish_reason"] for c in assembled["choices"]] == ["tool_calls"] * 2
    assert assembled["usage"] == answer["usage"]
    first_deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]][:3]
    assert first_deltas[0] == {"role": "assistant", "content": None, "refusal": None}
    header = first_deltas[1]["tool_calls"][0]
    assert header["function"] == {"name": "get_time", "arguments": ""}
    assert set(first_deltas[2]["tool_calls"][0]) == {"index", "function"}


def test_token_limit_cuts_tool_arguments_alike_in_both_modes(client):
    body = {"messages": user(ASK), "tools": [WEATHER], "max_tokens": 6}
    response = client.post("/v1/chat/completions", json={**body, "model": "mock"})
    answer = response.get_json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "length"
    arguments = choice["message"]["tool_calls"][0]["function"]["arguments"]
    with pytest.raises(ValueError):
        json.loads(arguments)
    assert answer["usage"]["completion_tokens"] <= 6
    streamed = client.post("/v1/chat/completions", json={**body, "model": "mock", "stream": True})
    pieces = [
        json.loads(block.removeprefix("data: "))
        for block in streamed.get_data(as_text=True).split("\n\n")
        if block.startswith("data: {")
    ]
    fragments = [
        item["function"]["arguments"]
        for chunk in pieces
        for item in chunk["choices"][0]["delta"].get("tool_calls") or []
    ]
    assert "".join(fragments) == arguments
    assert pieces[-1]["choices"][0]["finish_reason"] == "length"


def test_legacy_functions_answer_with_function_call(client):
    body = {"messages": user("weather for 'Lima' 2 days"), "functions": [WEATHER["function"]]}
    response = client.post("/v1/chat/completions", json={**body, "model": "mock"})
    choice = response.get_json()["choices"][0]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["content"] is None and "tool_calls" not in choice["message"]
    call = choice["message"]["function_call"]
    jsonschema.validate(json.loads(call["arguments"]), GetWeather.model_json_schema())
    streamed = client.post("/v1/chat/completions", json={**body, "model": "mock", "stream": True})
    chunks = [
        json.loads(block.removeprefix("data: "))
        for block in streamed.get_data(as_text=True).split("\n\n")
        if block.startswith("data: {")
    ]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[1]["function_call"] == {"name": call["name"], "arguments": ""}
    assert (
        "".join(d.get("function_call", {}).get("arguments", "") for d in deltas)
        == call["arguments"]
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "function_call"


@pytest.mark.parametrize(
    "extra",
    [
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}, "junk"]},
        {"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"x": 1}},
        {"tools": [{"type": "custom", "custom": {"name": "c"}}]},
        {"functions": [{"name": "f", "parameters": {"$ref": "#/nowhere"}}]},
        {"response_format": {"type": "json_schema", "json_schema": "junk"}},
        {"response_format": {"type": "json_schema", "json_schema": {"schema": {"$ref": "#"}}}},
        {"messages": [{"role": "user", "content": 5}, {"role": "tool"}, "junk"]},
    ],
)
def test_odd_requests_still_get_an_answer(extra):
    # The schema layer refuses most of these; the backend must not fail on them regardless.
    body = {"model": "m", "messages": user("x 'y' 3"), **extra}
    answer = MockBackend("mock", {}, {}).chat(Call(body, Route("m", "mock", "m")))
    check_chat_completion(answer)
