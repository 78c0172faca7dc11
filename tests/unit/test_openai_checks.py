"""The strict checkers themselves: they accept OpenAI's shapes and catch each kind of defect."""

from __future__ import annotations

import copy
import json

import pytest
from openai.types.chat import ChatCompletion

from app.backends import shaping
from tests.support import openai_checks as checks

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}


def _completion(content="Hello", tool_calls=None, reason="stop", n=1):
    message = shaping.message(content, tool_calls)
    choices = [shaping.choice(i, copy.deepcopy(message), reason) for i in range(n)]
    return shaping.chat_completion("gpt-4o", choices, shaping.usage(3, 2))


def _stream(include_usage=False, n=1):
    factory = shaping.ChunkFactory("gpt-4o", include_usage=include_usage)
    chunks = []
    for i in range(n):
        chunks += [factory.role(i), factory.content(i, "Hel"), factory.content(i, "lo")]
        chunks.append(factory.finish(i, "stop"))
    if include_usage:
        chunks.append(factory.usage(shaping.usage(3, 2 * n)))
    return chunks


def _tool_stream(arguments=('{"city"', ': "Paris"}')):
    factory = shaping.ChunkFactory("gpt-4o")
    chunks = [factory.role(0), factory.tool_call(0, 0, call_id="call_1", name="get_weather")]
    chunks += [factory.tool_call(0, 0, arguments=part) for part in arguments]
    return chunks + [factory.finish(0, "tool_calls")]


REQUEST = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def test_accepts_openai_shaped_bodies_and_streams():
    checks.check_chat_completion(_completion(n=2), {**REQUEST, "n": 2})
    request = {**REQUEST, "n": 2, "stream_options": {"include_usage": True}}
    assembled = checks.check_chat_sse(
        [json.dumps(c) for c in _stream(True, 2)] + ["[DONE]"], request
    )
    assert [c["message"]["content"] for c in assembled["choices"]] == ["Hello", "Hello"]
    tools = {**REQUEST, "tools": [TOOL], "tool_choice": "required"}
    assembled = checks.check_chat_stream(_tool_stream(), tools)
    call = assembled["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"city": "Paris"}'
    assert assembled["choices"][0]["finish_reason"] == "tool_calls"


def _drop(path):
    def mutate(body):
        *parents, last = path
        for key in parents:
            body = body[key]
        del body[last]

    return mutate


def _set(path, value):
    def mutate(body):
        *parents, last = path
        for key in parents:
            body = body[key]
        body[last] = value

    return mutate


@pytest.mark.parametrize(
    "mutate",
    [
        _drop(("choices", 0, "logprobs")),
        _drop(("choices", 0, "message", "refusal")),
        _set(("system_fingerprint",), None),
        _set(("choices", 0, "message", "reasoning_content"), "hmm"),
        _set(("surprise",), 1),
        _set(("created",), "1700000000"),
        _set(("created",), 1.5),
        _set(("choices", 0, "finish_reason"), "end_turn"),
        _set(("usage", "total_tokens"), 99),
        _drop(("usage",)),
        _set(("choices", 0, "index"), 1),
    ],
    ids=lambda f: f.__qualname__,
)
def test_rejects_defective_completion(mutate):
    body = _completion()
    mutate(body)
    with pytest.raises(AssertionError):
        checks.check_chat_completion(body, REQUEST)


def test_rejects_unknown_key_the_sdk_would_keep_as_extra():
    body = _completion()
    body["choices"][0]["message"]["thinking"] = "..."
    with pytest.raises(AssertionError, match="thinking"):
        checks.sdk_strict(ChatCompletion, body)


def _break_first_role(chunks):
    del chunks[0]["choices"][0]["delta"]["role"]


def _second_id(chunks):
    chunks[1]["id"] = "chatcmpl-other"


def _two_finishes(chunks):
    chunks[1]["choices"][0]["finish_reason"] = "stop"


def _usage_not_last(chunks):
    chunks[-1], chunks[-2] = chunks[-2], chunks[-1]


def _usage_missing_on_a_chunk(chunks):
    del chunks[1]["usage"]


def _repeated_role(chunks):
    chunks[1]["choices"][0]["delta"]["role"] = "assistant"


@pytest.mark.parametrize(
    "mutate",
    [
        _break_first_role,
        _second_id,
        _two_finishes,
        _usage_not_last,
        _usage_missing_on_a_chunk,
        _repeated_role,
        _drop((1, "choices", 0, "logprobs")),
    ],
    ids=lambda f: f.__qualname__,
)
def test_rejects_defective_stream(mutate):
    chunks = _stream(include_usage=True)
    mutate(chunks)
    request = {**REQUEST, "stream_options": {"include_usage": True}}
    with pytest.raises(AssertionError):
        checks.check_chat_stream(chunks, request)


def test_stream_must_end_with_a_single_done():
    events = [json.dumps(chunk) for chunk in _stream()]
    with pytest.raises(AssertionError, match="DONE"):
        checks.check_chat_sse(events)
    with pytest.raises(AssertionError, match="DONE"):
        checks.check_chat_sse([*events, "[DONE]", "[DONE]"])
    with pytest.raises(AssertionError):
        checks.check_error_sse([*events, "[DONE]"])


def test_usage_without_include_usage_is_rejected():
    with pytest.raises(AssertionError, match="usage"):
        checks.check_chat_stream(_stream(include_usage=True), REQUEST)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda chunks: chunks[1]["choices"][0]["delta"]["tool_calls"][0].update(index=1),
        lambda chunks: chunks[1]["choices"][0]["delta"]["tool_calls"][0].pop("id"),
        lambda chunks: chunks[2]["choices"][0]["delta"]["tool_calls"][0].update(id="call_2"),
    ],
)
def test_rejects_bad_tool_call_deltas(mutate):
    chunks = _tool_stream()
    mutate(chunks)
    with pytest.raises(AssertionError):
        checks.check_chat_stream(chunks)


def test_tool_arguments_must_match_the_tool_schema():
    request = {**REQUEST, "tools": [TOOL], "tool_choice": "required"}
    with pytest.raises(Exception, match="city"):
        checks.check_chat_stream(_tool_stream(('{"town": "Paris"}',)), request)
    with pytest.raises(AssertionError, match="not JSON"):
        checks.check_chat_stream(_tool_stream(("{city",)), request)
    with pytest.raises(AssertionError, match="required"):
        checks.check_chat_completion(_completion(), request)


def test_json_schema_content_must_match_the_schema():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    request = {**REQUEST, "response_format": fmt}
    checks.check_chat_completion(_completion('{"n": 3}'), request)
    with pytest.raises(Exception, match="'n' is a required property"):
        checks.check_chat_completion(_completion('{"m": 3}'), request)
    with pytest.raises(AssertionError, match="not JSON"):
        checks.check_chat_completion(_completion("n = 3"), request)


def test_error_envelope_needs_all_four_keys_and_a_matching_type():
    good = {
        "error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}
    }
    checks.check_error(good, 400)
    with pytest.raises(AssertionError):
        checks.check_error({"error": {"message": "bad", "type": "invalid_request_error"}}, 400)
    with pytest.raises(AssertionError):
        checks.check_error(good, 502)
    with pytest.raises(AssertionError):
        checks.check_error({**good, "detail": "x"}, 400)


def test_models_and_embeddings():
    model = {"id": "m", "object": "model", "created": 1, "owned_by": "mock"}
    checks.check_model_list({"object": "list", "data": [model]})
    with pytest.raises(AssertionError, match="duplicate"):
        checks.check_model_list({"object": "list", "data": [model, model]})
    with pytest.raises(AssertionError):
        checks.check_model({**model, "created": None})
    body = {
        "object": "list",
        "model": "e",
        "data": [{"object": "embedding", "index": 0, "embedding": "AACAPwAAAEA="}],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    assert checks.check_embeddings(body, {"encoding_format": "base64"}).data[0].embedding == [
        1.0,
        2.0,
    ]
    with pytest.raises(AssertionError, match="floats"):
        checks.check_embeddings(body, {})


def _completion_chunk(choices, usage=None):
    chunk = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "gpt-3.5-turbo-instruct",
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk


def _text_choice(index, text, finish=None):
    return {"index": index, "text": text, "logprobs": None, "finish_reason": finish}


def test_completion_stream_counts_choices_per_prompt_and_puts_usage_last():
    request = {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": ["one", "two"],
        "n": 2,
        "stream_options": {"include_usage": True},
    }
    chunks = [_completion_chunk([_text_choice(i, "hi")]) for i in range(4)]
    chunks += [_completion_chunk([_text_choice(i, "", "stop")]) for i in range(4)]
    chunks.append(_completion_chunk([], shaping.usage(2, 4)))
    assembled = checks.check_completion_stream(chunks, request)
    assert [c["text"] for c in assembled["choices"]] == ["hi"] * 4
    with pytest.raises(AssertionError, match="choices unfinished"):
        checks.check_completion_stream(chunks, {**request, "prompt": "one"})
    with pytest.raises(AssertionError):
        checks.check_completion_stream([{**c, "usage": None} for c in chunks[:-1]] + chunks[-1:])


def test_deprecated_function_call_stream_is_assembled_and_checked():
    factory = shaping.ChunkFactory("gpt-4o")
    chunks = [
        factory.delta(0, {"role": "assistant", "content": None, "refusal": None}),
        factory.delta(0, {"function_call": {"name": "get_weather", "arguments": ""}}),
        factory.delta(0, {"function_call": {"arguments": '{"city": "Oslo"}'}}),
        factory.finish(0, "function_call"),
    ]
    request = {**REQUEST, "functions": [TOOL["function"]]}
    message = checks.check_chat_stream(chunks, request)["choices"][0]["message"]
    assert message["function_call"] == {"name": "get_weather", "arguments": '{"city": "Oslo"}'}
    chunks[2]["choices"][0]["delta"]["function_call"]["arguments"] = '{"town": "Oslo"}'
    with pytest.raises(Exception, match="city"):
        checks.check_chat_stream(chunks, request)
