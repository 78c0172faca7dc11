"""The chat request schema: valid payloads pass unchanged; messages follow OpenAI's wording."""

from __future__ import annotations

import copy
import functools
from typing import Any

import jsonschema
import pytest

from app.schemas.chat import ChatCompletionRequestSchema
from tests.support.spec import spec

SCHEMA = ChatCompletionRequestSchema()
USER = {"role": "user", "content": "What is the weather in Paris?"}
BASE = {"model": "mock", "messages": [USER]}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": None,
    },
}
CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
TEXT = {"type": "text", "text": "Describe this."}
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
DATA_IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
AUDIO = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
FILE = {
    "type": "file",
    "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JV"},
}
FILE_ID = {"type": "file", "file": {"file_id": "file-abc"}}
CUSTOM_TOOL = {
    "type": "custom",
    "custom": {
        "name": "sql",
        "description": "Run SQL",
        "format": {"type": "grammar", "grammar": {"definition": "start: /.+/", "syntax": "lark"}},
    },
}


def with_messages(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A request with these messages and top-level fields."""
    return {"model": "mock", "messages": list(messages), **fields}


def user_parts(*parts: Any) -> dict[str, Any]:
    """A request whose only message is a user message made of `parts`."""
    return with_messages({"role": "user", "content": list(parts)})


def tool_round_trip(**fields: Any) -> dict[str, Any]:
    """User asks, assistant calls a tool, the tool answers, the assistant replies."""
    return with_messages(
        {"role": "system", "content": "Use tools."},
        USER,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
        {"role": "assistant", "content": "It is 21 degrees."},
        tools=[WEATHER],
        **fields,
    )


@functools.cache
def spec_validator() -> jsonschema.Draft202012Validator:
    """The spec's CreateChatCompletionRequest (objects left open, `nullable` made explicit)."""

    def explicit_null(node: Any) -> Any:
        if isinstance(node, list):
            return [explicit_null(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: explicit_null(value) for key, value in node.items()}
        if node.pop("nullable", False):
            return {"anyOf": [node, {"type": "null"}]}
        return node

    document = explicit_null(copy.deepcopy(spec()))
    document["$ref"] = "#/components/schemas/CreateChatCompletionRequest"
    return jsonschema.Draft202012Validator(document)


VALID = {
    "system-string": with_messages({"role": "system", "content": "Be brief.", "name": "s"}, USER),
    "system-parts": with_messages({"role": "system", "content": [TEXT]}, USER),
    "developer": with_messages({"role": "developer", "content": [TEXT], "name": "d"}, USER),
    "user-string": BASE,
    "user-named": with_messages({**USER, "name": "alice"}),
    "user-text-image": user_parts(TEXT, IMAGE, DATA_IMAGE),
    "user-audio": user_parts(TEXT, AUDIO, {**AUDIO, "input_audio": {"data": "", "format": "mp3"}}),
    "user-files": user_parts(FILE, FILE_ID),
    "cache-breakpoint": user_parts({**TEXT, "prompt_cache_breakpoint": {"mode": "explicit"}}),
    "assistant-string": with_messages(USER, {"role": "assistant", "content": "Hi", "name": "a"}),
    "assistant-parts": with_messages(
        USER,
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "No."}, {"type": "refusal", "refusal": "No."}],
            "refusal": None,
        },
        USER,
    ),
    "assistant-function-call": with_messages(
        USER,
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": None},
        functions=[{"name": "f"}],
    ),
    "assistant-audio-ref": with_messages(USER, {"role": "assistant", "audio": {"id": "aud_1"}}),
    "tool-round-trip": tool_round_trip(tool_choice="auto", parallel_tool_calls=False),
    "tool-parts": with_messages(
        USER,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "21"}]},
    ),
    "tool-choice-named": tool_round_trip(
        tool_choice={"type": "function", "function": {"name": "get_weather"}}
    ),
    "tool-choice-required": tool_round_trip(tool_choice="required"),
    "tool-choice-none-alone": with_messages(USER, tool_choice="none"),
    "custom-tools": with_messages(
        USER,
        {
            "role": "assistant",
            "tool_calls": [{"id": "c", "type": "custom", "custom": {"name": "sql", "input": "1"}}],
        },
        {"role": "tool", "tool_call_id": "c", "content": "1"},
        tools=[
            CUSTOM_TOOL,
            {"type": "custom", "custom": {"name": "t", "format": {"type": "text"}}},
        ],
        tool_choice={"type": "custom", "custom": {"name": "sql"}},
    ),
    "allowed-tools": tool_round_trip(
        tool_choice={
            "type": "allowed_tools",
            "allowed_tools": {"mode": "required", "tools": [{"type": "function"}]},
        }
    ),
    "lower-limits": with_messages(
        USER,
        temperature=0,
        top_p=0,
        frequency_penalty=-2,
        presence_penalty=-2.0,
        n=1,
        top_logprobs=0,
        logprobs=True,
        logit_bias={"0": -100},
        max_tokens=1,
        max_completion_tokens=1,
        seed=-(2**63),
        stop="\n",
    ),
    "upper-limits": with_messages(
        USER,
        temperature=2,
        top_p=1.0,
        frequency_penalty=2,
        presence_penalty=2,
        n=16,
        top_logprobs=20,
        logprobs=True,
        logit_bias={"50256": 100, "1": 0},
        seed=2**63 - 1,
        stop=["a", "b", "c", "d"],
        metadata={f"{i:064d}": "v" * 512 for i in range(16)},
        safety_identifier="s" * 64,
    ),
    "stream": with_messages(
        USER, stream=True, stream_options={"include_usage": True, "include_obfuscation": False}
    ),
    "response-text": with_messages(USER, response_format={"type": "text"}),
    "response-json-object": with_messages(
        {"role": "user", "content": "Weather in Paris, as JSON?"},
        response_format={"type": "json_object"},
    ),
    "response-json-schema": with_messages(
        USER,
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "answer_v1",
                "description": "d",
                "schema": {"type": "object"},
                "strict": True,
            },
        },
    ),
    "output-options": with_messages(
        USER,
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
        prediction={"type": "content", "content": [TEXT]},
        verbosity="low",
        reasoning_effort="xhigh",
        service_tier="flex",
        web_search_options={
            "search_context_size": "high",
            "user_location": {"type": "approximate", "approximate": {"city": "Paris"}},
        },
    ),
    "bookkeeping": with_messages(
        USER,
        user="u-1",
        store=False,
        prompt_cache_key="k",
        prompt_cache_retention="24h",
        prompt_cache_options={"ttl": "30m", "mode": "explicit"},
        moderation={"model": "omni-moderation-latest", "policy": {"input": {"mode": "block"}}},
        audio={"voice": {"id": "voice_1"}, "format": "mp3"},
        prediction={"type": "content", "content": "old text"},
    ),
    "functions": with_messages(
        USER,
        functions=[{"name": "f", "description": "d", "parameters": {"type": "object"}}],
        function_call={"name": "f"},
    ),
    "function-call-auto": with_messages(USER, functions=[{"name": "f"}], function_call="auto"),
    "nulls": with_messages(
        USER,
        **dict.fromkeys(
            "temperature top_p frequency_penalty presence_penalty n seed stop max_tokens "
            "max_completion_tokens logit_bias logprobs stream stream_options "
            "modalities audio prediction verbosity reasoning_effort safety_identifier metadata "
            "store service_tier prompt_cache_key prompt_cache_retention moderation".split()
        ),
    ),
}


@pytest.mark.parametrize("body", VALID.values(), ids=VALID.keys())
def test_valid_payload_loads_unchanged_and_matches_the_spec(app, body):
    assert not list(spec_validator().iter_errors(body)), "the test payload itself is off-spec"
    with app.app_context():
        assert SCHEMA.load(copy.deepcopy(body)) == body


@pytest.mark.parametrize("body", VALID.values(), ids=VALID.keys())
def test_valid_payload_is_answered(client, body):
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_null_top_logprobs_is_accepted(app):
    # One allOf branch of the spec omits `nullable` here; the request schema itself allows null.
    with app.app_context():
        assert SCHEMA.load({**BASE, "top_logprobs": None}) == {**BASE, "top_logprobs": None}


def test_unknown_fields_are_kept_everywhere(app):
    body = with_messages(
        {"role": "user", "content": [{**TEXT, "cache_control": {"type": "ephemeral"}}], "x": 1},
        {"role": "assistant", "content": "ok", "reasoning_content": "because"},
        top_k=40,
        repetition_penalty=1.1,
        extra_body={"a": [1, 2]},
    )
    with app.app_context():
        assert SCHEMA.load(copy.deepcopy(body)) == body


def test_unknown_fields_reach_the_backend(app, client, monkeypatch):
    backend = app.extensions["gateway.backends"]["mock"]
    seen, original = [], backend.chat
    monkeypatch.setattr(backend, "chat", lambda call: seen.append(call.body) or original(call))
    body = with_messages({**USER, "cache_control": {"type": "ephemeral"}}, top_k=5, min_p=0.1)
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    assert seen == [body]
