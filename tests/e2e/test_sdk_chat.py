"""Chat completions through the official openai SDK against the Procfile's gunicorn."""

from __future__ import annotations

import json

import jsonschema
import pytest

pytestmark = pytest.mark.slow

PROMPT = [{"role": "user", "content": "Say hi to the gateway"}]
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["city", "unit"],
    "additionalProperties": False,
}
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Forecast for a city",
        "parameters": WEATHER_PARAMETERS,
    },
}
PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "role": {"type": "string", "enum": ["admin", "editor", "viewer"]},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
            "required": ["city", "zip"],
            "additionalProperties": False,
        },
        "tags": {"type": "array", "items": {"type": "string"}},
        "nickname": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["name", "age", "role", "address", "tags", "nickname"],
    "additionalProperties": False,
}


def _text(chunks, index: int = 0) -> str:
    return "".join(
        choice.delta.content or ""
        for chunk in chunks
        for choice in chunk.choices
        if choice.index == index
    )


def test_non_stream(sdk, recorder):
    completion = sdk.chat.completions.create(model="gpt-4o", messages=PROMPT)
    assert completion.object == "chat.completion" and completion.model == "gpt-4o"
    (choice,) = completion.choices
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.content and choice.message.tool_calls is None
    raw = json.loads(recorder.exchanges[-1].body)
    assert raw["choices"][0]["logprobs"] is None and raw["choices"][0]["message"]["refusal"] is None
    assert "system_fingerprint" not in raw


def test_stream_matches_non_stream(sdk):
    completion = sdk.chat.completions.create(model="gpt-4o", messages=PROMPT)
    chunks = list(sdk.chat.completions.create(model="gpt-4o", messages=PROMPT, stream=True))
    assert len(chunks) > 3 and len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks)
    # The mock is deterministic: streaming must not change the answer.
    assert _text(chunks) == completion.choices[0].message.content


def test_stream_with_include_usage(sdk):
    completion = sdk.chat.completions.create(model="gpt-4o", messages=PROMPT)
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o",
            messages=PROMPT,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    *content_chunks, last = chunks
    assert last.choices == [] and last.usage is not None
    assert all(chunk.usage is None and chunk.choices for chunk in content_chunks)
    assert last.usage.prompt_tokens == completion.usage.prompt_tokens > 0
    assert last.usage.completion_tokens == completion.usage.completion_tokens > 0


def test_n3_non_stream(sdk):
    completion = sdk.chat.completions.create(model="gpt-4o", messages=PROMPT, n=3)
    assert [choice.index for choice in completion.choices] == [0, 1, 2]
    texts = [choice.message.content for choice in completion.choices]
    assert all(texts) and len(set(texts)) == 3


def test_n3_stream(sdk):
    completion = sdk.chat.completions.create(model="gpt-4o", messages=PROMPT, n=3)
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o",
            messages=PROMPT,
            n=3,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    finishes = [c.index for chunk in chunks for c in chunk.choices if c.finish_reason]
    assert sorted(finishes) == [0, 1, 2]
    assert [_text(chunks, i) for i in range(3)] == [c.message.content for c in completion.choices]
    assert chunks[-1].usage.completion_tokens == completion.usage.completion_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_tools_required(sdk, stream):
    request = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [WEATHER_TOOL],
        "tool_choice": "required",
    }
    if stream:
        calls: dict[int, dict] = {}
        for chunk in sdk.chat.completions.create(**request, stream=True):
            for choice in chunk.choices:
                for delta in choice.delta.tool_calls or []:
                    call = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
        calls_seen = list(calls.values())
    else:
        message = sdk.chat.completions.create(**request).choices[0].message
        assert message.tool_calls and all(call.id for call in message.tool_calls)
        calls_seen = [
            {"name": call.function.name, "arguments": call.function.arguments}
            for call in message.tool_calls
        ]
    assert calls_seen
    for call in calls_seen:
        assert call["name"] == "get_weather"
        jsonschema.validate(json.loads(call["arguments"]), WEATHER_PARAMETERS)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_json_schema_response_format(sdk, stream):
    request = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Describe a user"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True},
        },
    }
    if stream:
        content = _text(list(sdk.chat.completions.create(**request, stream=True)))
    else:
        content = sdk.chat.completions.create(**request).choices[0].message.content
    jsonschema.validate(json.loads(content), PERSON_SCHEMA)
