"""Strict checks of single response bodies: the official SDK's types, the spec, OpenAI's habits.

Every body goes through two independent checks. The SDK's pydantic models validate it in strict
mode, and because those models accept unknown keys, any key they kept as an "extra" is an error.
The spec's JSON schema (tests/support/spec.py) validates it with every object closed, so the
keys the spec requires (`choices[].logprobs`, `message.refusal`) must be present, as null.
When the request is passed too, the answer must also fit it: `n` choices, the requested model
id, tool arguments that satisfy the tool's schema, content that satisfies a `json_schema`.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, TypeVar

import jsonschema
import pydantic
from openai.types import Completion, CreateEmbeddingResponse, ErrorObject, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from tests.support.spec import assert_matches_spec


def _extras(value: Any, path: str) -> list[str]:
    """Paths of keys an SDK model accepted without declaring them."""
    if isinstance(value, pydantic.BaseModel):
        found = [f"{path}.{key}" for key in value.model_extra or {}]
        for name in type(value).model_fields:
            found += _extras(getattr(value, name), f"{path}.{name}")
        return found
    if isinstance(value, list | tuple):
        return [hit for i, item in enumerate(value) for hit in _extras(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in _extras(item, f"{path}.{key}")]
    return []


M = TypeVar("M", bound=pydantic.BaseModel)


def sdk_strict(model: type[M], body: Any) -> M:
    """Validate `body` with an SDK model in strict mode and refuse keys the model does not know."""
    try:
        parsed = model.model_validate(body, strict=True)
    except pydantic.ValidationError as exc:
        raise AssertionError(f"{model.__name__} (strict) rejected the body:\n{exc}") from exc
    extras = _extras(parsed, "<root>")
    assert not extras, f"{model.__name__}: keys unknown to the SDK: {extras}"
    return parsed


def expected_choices(request: dict[str, Any], operation: str) -> int:
    """How many choices answer `request`: `n`, times the number of prompts for completions."""
    n = request.get("n") or 1
    prompt = request.get("prompt")
    # A legacy prompt is a string, a list of strings, a token list, or a list of token lists.
    if operation == "completion" and isinstance(prompt, list) and prompt:
        if isinstance(prompt[0], str | list):
            return n * len(prompt)
    return n


def _check_indexes(
    choices: list[dict[str, Any]], request: dict[str, Any] | None, operation: str
) -> None:
    indexes = sorted(choice["index"] for choice in choices)
    expected = len(choices) if request is None else expected_choices(request, operation)
    assert indexes == list(range(expected)), f"choice indexes {indexes}, expected {expected}"


def _check_usage(usage: dict[str, Any] | None) -> None:
    assert usage is not None, "usage is missing"
    total = usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["total_tokens"] == total, f"total_tokens is not prompt + completion: {usage}"


def _function_schemas(request: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Parameters schemas by function name, from `tools` and the deprecated `functions`."""
    functions = [t["function"] for t in request.get("tools") or [] if t.get("type") == "function"]
    functions += request.get("functions") or []
    return {function["name"]: function.get("parameters") or {} for function in functions}


def _check_arguments(function: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> None:
    assert function["name"] in schemas, f"call to undeclared function {function['name']!r}"
    try:
        arguments = json.loads(function["arguments"])
    except ValueError as exc:
        raise AssertionError(f"arguments are not JSON: {function['arguments']!r}") from exc
    assert isinstance(arguments, dict), f"arguments are not an object: {arguments!r}"
    jsonschema.validate(arguments, schemas[function["name"]])


def _check_tool_calls(message: dict[str, Any], request: dict[str, Any]) -> None:
    schemas = _function_schemas(request)
    calls = message.get("tool_calls") or []
    for call in calls:
        _check_arguments(call["function"], schemas)
    if message.get("function_call") is not None:
        assert request.get("functions"), "function_call without `functions` in the request"
        _check_arguments(message["function_call"], schemas)
    choice = request.get("tool_choice")
    if choice == "required":
        assert calls, "tool_choice=required but the message calls no tool"
    elif choice == "none":
        assert not calls, "tool_choice=none but the message calls a tool"
    elif isinstance(choice, dict) and choice.get("type") == "function":
        wanted = choice["function"]["name"]
        assert calls and all(c["function"]["name"] == wanted for c in calls), f"not {wanted}"


def _check_structured_content(message: dict[str, Any], response_format: dict[str, Any]) -> None:
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return
    if message.get("tool_calls") or message.get("function_call"):
        return
    try:
        content = json.loads(message["content"])
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{kind} content is not JSON: {message['content']!r}") from exc
    assert isinstance(content, dict), f"{kind} content is not an object: {content!r}"
    if kind == "json_schema":
        schema = response_format["json_schema"].get("schema") or {}
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(content, schema, cls=jsonschema.Draft202012Validator)


def check_choice_semantics(choices: list[dict[str, Any]], request: dict[str, Any]) -> None:
    """The assistant messages fit the request: tools, tool_choice and response_format."""
    for choice in choices:
        message = choice["message"]
        if choice["finish_reason"] == "tool_calls":
            assert message.get("tool_calls"), "finish_reason tool_calls without tool_calls"
        if choice["finish_reason"] == "function_call":
            assert message.get("function_call"), "finish_reason function_call without one"
        if request.get("tools") or request.get("functions") or message.get("tool_calls"):
            _check_tool_calls(message, request)
        if choice["finish_reason"] == "stop" and request.get("response_format"):
            _check_structured_content(message, request["response_format"])


def check_chat_completion(body: Any, request: dict[str, Any] | None = None) -> ChatCompletion:
    """A `chat.completion` body, and (given the request) its fit to the request."""
    assert_matches_spec("CreateChatCompletionResponse", body)
    parsed = sdk_strict(ChatCompletion, body)
    _check_indexes(body["choices"], request, "chat")
    _check_usage(body.get("usage"))
    if request is not None:
        assert body["model"] == request["model"], f"model {body['model']!r} != requested"
        check_choice_semantics(body["choices"], request)
    return parsed


def check_chat_chunk(chunk: Any) -> ChatCompletionChunk:
    """One `chat.completion.chunk` on its own (stream-level rules live in stream_checks)."""
    assert_matches_spec("CreateChatCompletionStreamResponse", chunk)
    for choice in chunk["choices"]:
        # The spec leaves it optional on chunks; OpenAI always sends it, as null.
        assert "logprobs" in choice, f"chunk choice without logprobs: {choice}"
    return sdk_strict(ChatCompletionChunk, chunk)


def check_completion(body: Any, request: dict[str, Any] | None = None) -> Completion:
    """A legacy `text_completion` body."""
    assert_matches_spec("CreateCompletionResponse", body)
    parsed = sdk_strict(Completion, body)
    _check_indexes(body["choices"], request, "completion")
    _check_usage(body.get("usage"))
    if request is not None:
        assert body["model"] == request["model"], f"model {body['model']!r} != requested"
    return parsed


def _decoded_embeddings(body: dict[str, Any]) -> dict[str, Any]:
    """The body with base64 vectors (encoding_format=base64) decoded to float lists."""
    data = []
    for item in body.get("data") or []:
        vector = item.get("embedding")
        if isinstance(vector, str):
            raw = base64.b64decode(vector, validate=True)
            assert len(raw) % 4 == 0, "base64 embedding is not a float32 array"
            item = {**item, "embedding": list(struct.unpack(f"<{len(raw) // 4}f", raw))}
        data.append(item)
    return {**body, "data": data}


def check_embeddings(body: Any, request: dict[str, Any] | None = None) -> CreateEmbeddingResponse:
    """An embeddings `list` body; base64 vectors are accepted when the request asked for them."""
    if (request or {}).get("encoding_format") == "base64":
        assert all(isinstance(d["embedding"], str) for d in body["data"]), "expected base64"
    else:
        assert all(isinstance(d["embedding"], list) for d in body["data"]), "expected floats"
    body = _decoded_embeddings(body)
    assert_matches_spec("CreateEmbeddingResponse", body)
    parsed = sdk_strict(CreateEmbeddingResponse, body)
    assert [d["index"] for d in body["data"]] == list(range(len(body["data"])))
    assert body["usage"]["total_tokens"] >= body["usage"]["prompt_tokens"]
    return parsed


def check_model(body: Any) -> Model:
    """One `model` object."""
    assert_matches_spec("Model", body)
    return sdk_strict(Model, body)


def check_model_list(body: Any) -> list[Model]:
    """A `list` of models with unique ids."""
    assert_matches_spec("ListModelsResponse", body)
    models = [sdk_strict(Model, item) for item in body["data"]]
    ids = [m.id for m in models]
    assert len(ids) == len(set(ids)), f"duplicate model ids: {ids}"
    return models


def check_error(body: Any, status: int | None = None) -> ErrorObject:
    """The error envelope `{"error": {"message", "type", "param", "code"}}`."""
    assert_matches_spec("ErrorResponse", body)
    error = sdk_strict(ErrorObject, body["error"])
    assert error.message, "empty error message"
    if status is not None:
        assert status >= 400, f"an error body with status {status}"
        if status >= 500:
            assert error.type != "invalid_request_error", "a 5xx blamed on the request"
        elif status != 429:
            assert error.type == "invalid_request_error", f"{status} with type {error.type}"
    return error


def check_invalid_param(body: Any, param: str) -> ErrorObject:
    """A 400 `invalid_request_error` whose `param` is `param`, quoted in its message too."""
    error = check_error(body, 400)
    assert error.type == "invalid_request_error"
    assert error.param == param, error.message
    # The message names the same path, quoted, so a reader can find the field.
    assert f"'{param}'" in error.message
    return error
