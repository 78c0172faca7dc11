"""Gemini backend: tools, tool choice, tool turns and structured output in the request."""

from __future__ import annotations

import pytest

from tests.fakes.gemini import candidate, response
from tests.support.openai_checks import check_error
from tests.unit.gemini_helpers import BASE, OK, URL, chat, gemini_client, sent, tool_call

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
NO_ARGS = {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


@pytest.fixture
def make_client(monkeypatch):
    return lambda **options: gemini_client(monkeypatch, **options)


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        (None, None),
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tools_and_tool_choice(client, upstream, choice, config):
    upstream.post(URL, json=OK)
    request = {"tools": [WEATHER, NO_ARGS]}
    if choice is not None:
        request["tool_choice"] = choice
    assert chat(client, **request).status_code == 200
    body = sent(upstream)
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather in a city",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                },
                # Gemini refuses an OBJECT without properties: no parameters at all instead.
                {"name": "now"},
            ]
        }
    ]
    assert body.get("toolConfig") == (None if config is None else {"functionCallingConfig": config})


def test_allowed_tools_in_auto_mode_narrow_the_declarations(client, upstream):
    upstream.post(URL, json=OK)
    choice = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "auto",
            "tools": [{"type": "function", "function": {"name": "now"}}],
        },
    }
    assert chat(client, tools=[WEATHER, NO_ARGS], tool_choice=choice).status_code == 200
    body = sent(upstream)
    assert body["tools"] == [{"functionDeclarations": [{"name": "now"}]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_multi_turn_tool_use_with_parallel_calls(client, upstream):
    upstream.post(URL, json=OK)
    calls = [
        tool_call("call_a", "get_weather", '{"city":"Paris"}'),
        tool_call("call_b", "get_weather", '{"city":"Oslo"}'),
    ]
    messages = [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 18}'},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "rainy"}]},
        {"role": "user", "content": "And tomorrow?"},
    ]
    assert chat(client, messages=messages, tools=[WEATHER]).status_code == 200
    assert sent(upstream)["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris and Oslo?"}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
                {"functionResponse": {"name": "get_weather", "response": {"output": "rainy"}}},
                {"text": "And tomorrow?"},
            ],
        },
    ]


def test_signature_of_a_returned_call_is_sent_back(client, upstream):
    part = {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}
    upstream.post(URL, json=response([candidate([{**part, "thoughtSignature": "U0lHTg=="}])]))
    upstream.post(URL, json=OK)
    first = chat(client, tools=[WEATHER]).json["choices"][0]["message"]
    messages = [
        {"role": "user", "content": "Hi"},
        first,
        {"role": "tool", "tool_call_id": first["tool_calls"][0]["id"], "content": "sunny"},
    ]
    assert chat(client, tools=[WEATHER], messages=messages).status_code == 200
    assert sent(upstream)["contents"][1] == {
        "role": "model",
        "parts": [{**part, "thoughtSignature": "U0lHTg=="}],
    }


def test_gemini_3_gets_a_placeholder_for_unknown_signatures(client, upstream):
    upstream.post(f"{BASE}/models/gemini-3-pro-preview:generateContent", json=OK)
    calls = [tool_call(f"call_{n}", "now", "{}") for n in (1, 2)]
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "noon"},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
    ]
    answer = chat(client, model="gemini-3-pro-preview", tools=[NO_ARGS], messages=messages)
    assert answer.status_code == 200
    call = {"functionCall": {"name": "now", "args": {}}}
    assert sent(upstream)["contents"][1]["parts"] == [
        {**call, "thoughtSignature": "skip_thought_signature_validator"},
        call,
    ]


def test_tool_message_without_matching_call_is_refused(client):
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "tool", "tool_call_id": "call_missing", "content": "x"},
    ]
    answer = chat(client, messages=messages)
    assert answer.status_code == 400
    assert check_error(answer.json).param == "messages[1].tool_call_id"


def test_json_object_response_format(client, upstream):
    upstream.post(URL, json=OK)
    assert chat(client, response_format={"type": "json_object"}).status_code == 200
    assert sent(upstream)["generationConfig"] == {"responseMimeType": "application/json"}


PYDANTIC_SCHEMA = {
    "$defs": {
        "Step": {
            "properties": {"explanation": {"title": "Explanation", "type": "string"}},
            "required": ["explanation"],
            "title": "Step",
            "type": "object",
            "additionalProperties": False,
        }
    },
    "properties": {
        "steps": {"items": {"$ref": "#/$defs/Step"}, "title": "Steps", "type": "array"},
        "answer": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "level": {"enum": [1, 2, 3], "type": "integer"},
    },
    "required": ["steps", "level"],
    "title": "Solution",
    "type": "object",
    "additionalProperties": False,
}


def test_json_schema_response_format_is_reduced_to_gemini_schema(client, upstream):
    upstream.post(URL, json=response([candidate([{"text": '{"steps": [], "level": 1}'}])]))
    format_ = {
        "type": "json_schema",
        "json_schema": {"name": "solution", "schema": PYDANTIC_SCHEMA},
    }
    assert chat(client, response_format=format_).status_code == 200
    assert sent(upstream)["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "title": "Solution",
            "type": "OBJECT",
            "properties": {
                "steps": {
                    "title": "Steps",
                    "type": "ARRAY",
                    "items": {
                        "title": "Step",
                        "type": "OBJECT",
                        "properties": {"explanation": {"title": "Explanation", "type": "STRING"}},
                        "required": ["explanation"],
                    },
                },
                "answer": {"type": "STRING", "default": None, "nullable": True},
                "level": {"type": "INTEGER", "description": "(allowed values: 1, 2, 3)"},
            },
            "required": ["steps", "level"],
            # Declaration order, or Gemini would write the keys alphabetically.
            "propertyOrdering": ["steps", "answer", "level"],
        },
    }


def test_json_schema_mode_sends_json_schema_unchanged(make_client, upstream):
    client = make_client(schema_mode="json")
    upstream.post(URL, json=response([candidate([{"text": '{"steps": [], "level": 1}'}])]))
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **PYDANTIC_SCHEMA}
    format_ = {"type": "json_schema", "json_schema": {"name": "solution", "schema": schema}}
    tool = {"type": "function", "function": {"name": "solve", "parameters": schema}}
    assert chat(client, response_format=format_, tools=[tool]).status_code == 200
    body = sent(upstream)
    assert body["generationConfig"]["responseJsonSchema"] == PYDANTIC_SCHEMA
    assert body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == PYDANTIC_SCHEMA


def test_recursive_schema_is_refused_in_openapi_mode(client):
    schema = {"$defs": {"N": {"type": "object", "properties": {"next": {"$ref": "#/$defs/N"}}}},
              "$ref": "#/$defs/N"}  # fmt: skip
    format_ = {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}
    answer = chat(client, response_format=format_)
    assert answer.status_code == 400
    error = check_error(answer.json)
    assert error.param == "response_format.json_schema.schema"
    assert "schema_mode: json" in error.message
