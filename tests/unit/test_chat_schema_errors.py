"""Invalid chat messages: a 400 `invalid_request_error` naming the exact path, in OpenAI's words."""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
import pytest

from app import create_app
from app.schemas.chat import ChatCompletionRequestSchema
from app.schemas.problems import request_error
from tests.support.openai_checks import check_error, check_invalid_param

USER = {"role": "user", "content": "hi"}
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
TOOLS = [{"type": "function", "function": {"name": "f"}}]
DROP = object()
SCHEMA = ChatCompletionRequestSchema()


def body(**fields: Any) -> dict[str, Any]:
    """A valid request changed by `fields` (DROP removes a field)."""
    out = {"model": "mock", "messages": [USER], **fields}
    return {key: value for key, value in out.items() if value is not DROP}


def msgs(*messages: Any, **fields: Any) -> dict[str, Any]:
    """A request with these messages."""
    return body(messages=list(messages), **fields)


def part(*parts: Any, role: str = "user") -> dict[str, Any]:
    """A request whose only message has these content parts."""
    return msgs({"role": role, "content": list(parts)})


def image(**image_url: Any) -> dict[str, Any]:
    """A request with a text part and an image part with this `image_url` object."""
    return part({"type": "text", "text": "x"}, {"type": "image_url", "image_url": image_url})


def tool_msg(**fields: Any) -> dict[str, Any]:
    """A tool answer following an assistant tool call; `fields` change the tool message."""
    call = {"role": "assistant", "content": None, "tool_calls": [CALL]}
    answer = {"role": "tool", "tool_call_id": "call_1", "content": "1", **fields}
    return msgs(USER, call, {key: value for key, value in answer.items() if value is not DROP})


def assistant(**fields: Any) -> dict[str, Any]:
    """An assistant message (second) made of `fields`."""
    return msgs(USER, {"role": "assistant", **fields})


CASES = [
    # Required fields and top-level types
    ({"model": "mock"}, "messages"),
    (body(model=5), "model"),
    (body(messages="hi"), "messages"),
    (body(messages=[]), "messages"),
    # Messages: role dispatch
    (msgs("hi"), "messages[0]"),
    (msgs({"content": "x"}), "messages[0].role"),
    (msgs({"role": "robot", "content": "x"}), "messages[0].role"),
    (msgs({"role": 1, "content": "x"}), "messages[0].role"),
    (msgs({"role": None, "content": "x"}), "messages[0].role"),
    (msgs(USER, {"role": "User", "content": "x"}), "messages[1].role"),
    # Messages: content
    (msgs({"role": "system"}), "messages[0].content"),
    (msgs({"role": "developer", "content": None}), "messages[0].content"),
    (msgs({"role": "user", "content": None}), "messages[0].content"),
    (msgs({"role": "user", "content": 5}), "messages[0].content"),
    (msgs({"role": "user", "content": {"text": "x"}}), "messages[0].content"),
    (msgs({"role": "user", "content": []}), "messages[0].content"),
    (msgs({**USER, "name": 5}), "messages[0].name"),
    (part("hello"), "messages[0].content[0]"),
    (part({"text": "x"}), "messages[0].content[0].type"),
    (part({"type": "video", "video": {}}), "messages[0].content[0].type"),
    (part({"type": "text"}), "messages[0].content[0].text"),
    (part({"type": "text", "text": 1}), "messages[0].content[0].text"),
    (
        part({"type": "text", "text": "x", "prompt_cache_breakpoint": {}}),
        "messages[0].content[0].prompt_cache_breakpoint.mode",
    ),
    (part({"type": "refusal", "refusal": "no"}), "messages[0].content[0].type"),
    # Part types allowed per role
    (
        part({"type": "image_url", "image_url": {"url": "https://a.b/c.png"}}, role="system"),
        "messages[0].content[0].type",
    ),
    (
        part({"type": "input_audio", "input_audio": {}}, role="developer"),
        "messages[0].content[0].type",
    ),
    (part({"type": "file", "file": {}}, role="tool"), "messages[0].content[0].type"),
    (
        part({"type": "input_audio", "input_audio": {}}, role="assistant"),
        "messages[0].content[0].type",
    ),
    (
        tool_msg(content=[{"type": "image_url", "image_url": {"url": "https://a.b"}}]),
        "messages[2].content[0].type",
    ),
    # Images, audio, files
    (image(), "messages[0].content[1].image_url.url"),
    (image(url=5), "messages[0].content[1].image_url.url"),
    (image(url="ftp://example.com/cat.png"), "messages[0].content[1].image_url.url"),
    (image(url="cat.png"), "messages[0].content[1].image_url.url"),
    (image(url="data:text/plain;base64,aGk="), "messages[0].content[1].image_url.url"),
    (image(url="https://a.b/c.png", detail="ultra"), "messages[0].content[1].image_url.detail"),
    (part({"type": "image_url", "image_url": "https://a.b"}), "messages[0].content[0].image_url"),
    (part({"type": "image_url"}), "messages[0].content[0].image_url"),
    (
        part({"type": "input_audio", "input_audio": {"data": "x"}}),
        "messages[0].content[0].input_audio.format",
    ),
    (
        part({"type": "input_audio", "input_audio": {"data": "x", "format": "ogg"}}),
        "messages[0].content[0].input_audio.format",
    ),
    (part({"type": "file", "file": "abc"}), "messages[0].content[0].file"),
    (part({"type": "file", "file": {"file_id": 5}}), "messages[0].content[0].file.file_id"),
    # Assistant messages
    (assistant(), "messages[1].content"),
    (assistant(content=None), "messages[1].content"),
    (assistant(content=None, tool_calls=[]), "messages[1].tool_calls"),
    (assistant(content="x", tool_calls=[]), "messages[1].tool_calls"),
    (assistant(content=[]), "messages[1].content"),
    (assistant(content="x", refusal=5), "messages[1].refusal"),
    (assistant(tool_calls=CALL), "messages[1].tool_calls"),
    (assistant(tool_calls=[{**CALL, "id": None}]), "messages[1].tool_calls[0].id"),
    (assistant(tool_calls=[{**CALL, "type": "code"}]), "messages[1].tool_calls[0].type"),
    (assistant(tool_calls=[{"id": "c", "type": "function"}]), "messages[1].tool_calls[0].function"),
    (
        assistant(tool_calls=[{**CALL, "function": {"name": "f", "arguments": {}}}]),
        "messages[1].tool_calls[0].function.arguments",
    ),
    (assistant(function_call={"name": "f"}), "messages[1].function_call.arguments"),
    (assistant(audio={}), "messages[1].audio.id"),
    # Tool and function messages
    (tool_msg(tool_call_id=DROP), "messages[2].tool_call_id"),
    (tool_msg(tool_call_id=7), "messages[2].tool_call_id"),
    (tool_msg(content=DROP), "messages[2].content"),
    (msgs({"role": "function", "content": "x"}), "messages[0].name"),
    (msgs({"role": "function", "name": "f"}), "messages[0].content"),
]


@pytest.mark.parametrize(("payload", "param"), CASES, ids=[param for _, param in CASES])
def test_invalid_payload_names_its_param(client, payload, param):
    response = client.post("/v1/chat/completions", json=payload)
    assert response.status_code == 400, response.get_data(as_text=True)
    check_invalid_param(response.get_json(), param)


def test_gateway_limits_come_from_the_config(config):
    client = create_app({**config, "GATEWAY_MAX_N": 2, "GATEWAY_MAX_MESSAGES": 2}).test_client()
    assert client.post("/v1/chat/completions", json=body(n=2)).status_code == 200
    over_n = client.post("/v1/chat/completions", json=body(n=3)).get_json()["error"]
    assert (over_n["param"], over_n["code"]) == ("n", "integer_above_max_value")
    three = msgs(USER, USER, USER)
    over_messages = client.post("/v1/chat/completions", json=three).get_json()["error"]
    assert over_messages["param"] == "messages"
    assert "maximum length 2, but got an array with length 3" in over_messages["message"]


def test_nan_is_not_a_number(client):
    raw = json.dumps(body())[:-1] + ', "temperature": NaN}'
    response = client.post("/v1/chat/completions", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "temperature"


def problem(payload: dict[str, Any]) -> Any:
    """The 400 the schema's first violation becomes (outside any app: default limits)."""
    with pytest.raises(ma.ValidationError) as info:
        SCHEMA.load(payload)
    return request_error(info.value.messages)


@pytest.mark.parametrize(
    ("payload", "message", "code"),
    [
        (
            body(temperature=3),
            "Invalid 'temperature': decimal above maximum value. "
            "Expected a value <= 2, but got 3 instead.",
            "decimal_above_max_value",
        ),
        (
            body(temperature="0.5"),
            "Invalid type for 'temperature': expected a decimal, but got a string instead.",
            "invalid_type",
        ),
        ({"model": "m"}, "Missing required parameter: 'messages'.", "missing_required_parameter"),
        (
            body(n=0),
            "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
            "integer_below_min_value",
        ),
        (
            msgs({"role": "robot", "content": "x"}),
            "Invalid value for 'messages[0].role': 'robot'. Supported values are: 'system', "
            "'developer', 'user', 'assistant', 'tool', and 'function'.",
            "invalid_value",
        ),
        (
            body(stop=[]),
            "Invalid 'stop': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "empty_array",
        ),
        (
            body(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}}),
            "Invalid value for 'tool_choice.function.name': 'nope' is not the name of a "
            "function in 'tools'. Defined: 'f'.",
            "invalid_value",
        ),
        (
            body(n=17),
            "Invalid 'n': integer above maximum value. Expected a value <= 16, but got 17 instead.",
            "integer_above_max_value",
        ),
    ],
)
def test_messages_follow_openai_wording(payload, message, code):
    error = problem(payload)
    assert (error.message, error.code, error.status) == (message, code, 400)


@pytest.mark.parametrize(
    "payload",
    [body(model=DROP), {}, body(model=DROP, temperature=9), body(model=DROP, messages="hi")],
    ids=["no-model", "empty", "and-bad-temperature", "and-bad-messages"],
)
def test_missing_model_is_openais_400_before_any_other_check(client, payload):
    response = client.post("/v1/chat/completions", json=payload)
    assert response.status_code == 400
    assert response.get_json() == {
        "error": {
            "message": "you must provide a model parameter",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


@pytest.mark.parametrize(("model", "code"), [(None, "invalid_type"), (5, "invalid_type")])
def test_a_model_of_the_wrong_type_still_names_model(client, model, code):
    response = client.post("/v1/chat/completions", json=body(model=model))
    error = check_invalid_param(response.get_json(), "model")
    assert (response.status_code, error.code) == (400, code)


def test_errors_through_the_client_are_the_envelope(client):
    response = client.post("/v1/chat/completions", json=body(top_p=1.5))
    assert response.status_code == 400
    error = check_error(response.get_json(), 400)
    assert (error.type, error.param, error.code) == (
        "invalid_request_error",
        "top_p",
        "decimal_above_max_value",
    )
