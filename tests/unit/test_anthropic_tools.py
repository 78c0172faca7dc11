"""Anthropic backend: tools, tool choice, tool history and structured output in the request."""

from __future__ import annotations

import pytest
import responses

from tests.support import anthropic_requests
from tests.support.anthropic_requests import sent, user
from tests.support.provider_e2e import PERSON

# The shared fixtures, bound here so that pytest finds them.
config = anthropic_requests.config
upstream = anthropic_requests.upstream


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time"}}


def test_tools(client, upstream):
    assert sent(client, upstream, tools=[WEATHER, TIME])["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "input_schema": WEATHER["function"]["parameters"],
        },
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, None),
        ({"tool_choice": "auto"}, {"type": "auto"}),
        ({"tool_choice": "required"}, {"type": "any"}),
        ({"tool_choice": "none"}, {"type": "none"}),
        (
            {"tool_choice": {"type": "function", "function": {"name": "get_time"}}},
            {"type": "tool", "name": "get_time"},
        ),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
        (
            {"tool_choice": "required", "parallel_tool_calls": False},
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        ({"tool_choice": "none", "parallel_tool_calls": False}, {"type": "none"}),
        ({"parallel_tool_calls": True}, None),
    ],
)
def test_tool_choice(client, upstream, options, expected):
    assert sent(client, upstream, tools=[WEATHER, TIME], **options).get("tool_choice") == expected


def test_tool_round_trip_history(client, upstream):
    messages = [
        {"role": "user", "content": "Weather in Paris and the time?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "toolu_01A",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "toolu_01B",
                    "type": "function",
                    "function": {"name": "get_time", "arguments": ""},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_01A", "content": "18°C, sunny"},
        {"role": "tool", "tool_call_id": "toolu_01B", "content": [{"type": "text", "text": "9am"}]},
        {"role": "user", "content": "Thanks!"},
    ]
    assert sent(client, upstream, messages=messages, tools=[WEATHER, TIME])["messages"] == [
        user("Weather in Paris and the time?"),
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "get_weather",
                    "input": {"city": "Paris"},
                },
                {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18°C, sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "content": "9am"},
                {"type": "text", "text": "Thanks!"},
            ],
        },
    ]


def test_json_schema_becomes_a_forced_tool(client, upstream):
    payload = sent(client, upstream, response_format=PERSON)
    assert payload["tools"] == [
        {
            "name": "person",
            "description": "Give the final answer as a JSON object that matches this schema.",
            "input_schema": PERSON["json_schema"]["schema"],
        }
    ]
    assert payload["tool_choice"] == {"type": "tool", "name": "person"}


def test_json_schema_with_client_tools_requires_some_tool(client, upstream):
    payload = sent(client, upstream, response_format=PERSON, tools=[WEATHER])
    assert [tool["name"] for tool in payload["tools"]] == ["get_weather", "person"]
    assert payload["tool_choice"] == {"type": "any"}


def test_json_object_adds_a_system_instruction(client, upstream):
    messages = [{"role": "system", "content": "You list fruit."}, {"role": "user", "content": "3"}]
    payload = sent(client, upstream, messages=messages, response_format={"type": "json_object"})
    assert payload["system"].startswith("You list fruit.\n\nRespond only with a single valid JSON")
    assert "tools" not in payload


def test_json_schema_named_like_a_tool_is_400(client):
    clash = {**PERSON, "json_schema": {**PERSON["json_schema"], "name": "get_weather"}}
    request = {
        "model": "claude-3-haiku",
        "messages": [{"role": "user", "content": "x"}],
        "response_format": clash,
        "tools": [WEATHER],
    }
    with responses.RequestsMock():
        response = client.post("/v1/chat/completions", json=request)
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "response_format.json_schema.name"


def allowed(mode: str, *names: str) -> dict:
    """An OpenAI `allowed_tools` tool choice listing the function tools `names`."""
    listed = [{"type": "function", "function": {"name": name}} for name in names]
    return {"type": "allowed_tools", "allowed_tools": {"mode": mode, "tools": listed}}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"tool_choice": allowed("auto", "get_time")}, {"type": "auto"}),
        ({"tool_choice": allowed("required", "get_time")}, {"type": "any"}),
        (
            {"tool_choice": allowed("required", "get_time"), "parallel_tool_calls": False},
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        (
            {"tool_choice": allowed("auto", "get_time"), "parallel_tool_calls": False},
            {"type": "auto", "disable_parallel_tool_use": True},
        ),
    ],
)
def test_allowed_tools_sends_only_the_listed_tools(client, upstream, options, expected):
    payload = sent(client, upstream, tools=[WEATHER, TIME], **options)
    assert payload["tools"] == [
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}
    ]
    assert payload["tool_choice"] == expected


def test_allowed_tools_keeps_the_order_of_tools(client, upstream):
    payload = sent(
        client,
        upstream,
        tools=[WEATHER, TIME],
        tool_choice=allowed("auto", "get_time", "get_weather"),
    )
    assert [tool["name"] for tool in payload["tools"]] == ["get_weather", "get_time"]
    assert payload["tool_choice"] == {"type": "auto"}


def test_allowed_tools_with_none_listed_calls_no_tool(client, upstream):
    payload = sent(
        client,
        upstream,
        tools=[WEATHER, TIME],
        tool_choice=allowed("auto"),
        parallel_tool_calls=False,
    )
    assert [tool["name"] for tool in payload["tools"]] == ["get_weather", "get_time"]
    assert payload["tool_choice"] == {"type": "none"}


def test_allowed_tools_with_a_json_schema_answer(client, upstream):
    payload = sent(
        client,
        upstream,
        tools=[WEATHER, TIME],
        tool_choice=allowed("auto", "get_weather"),
        response_format=PERSON,
    )
    assert [tool["name"] for tool in payload["tools"]] == ["get_weather", "person"]
    assert payload["tool_choice"] == {"type": "any"}


@pytest.mark.parametrize(
    "choice",
    [
        allowed("auto", "get_time", "get_date"),
        allowed("required"),
        {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": [{"type": "custom"}]}},
    ],
)
def test_allowed_tools_listing_no_function_of_tools_or_required_and_empty_is_400(client, choice):
    request = {
        "model": "claude-3-haiku",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [WEATHER, TIME],
        "tool_choice": choice,
    }
    with responses.RequestsMock():
        response = client.post("/v1/chat/completions", json=request)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "tool_choice",
        "invalid_value",
    )


def test_tool_arguments_nested_past_the_parser_are_a_bad_request(client):
    arguments = '{"a":' * 100_000 + "1" + "}" * 100_000
    function = {"name": "f", "arguments": arguments}
    call = {"id": "toolu_01A", "type": "function", "function": function}
    messages = [
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "toolu_01A", "content": "done"},
    ]
    body = {"model": "claude-3-haiku", "messages": messages, "tools": [WEATHER]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "messages[1].tool_calls[0].function.arguments"
    assert error["message"] == "Tool call arguments are nested too deeply."
