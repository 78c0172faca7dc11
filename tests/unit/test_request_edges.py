"""Request rules at the edges, as OpenAI applies them: lone surrogates, overflowing numbers,
tool limits, `parallel_tool_calls`, empty `tool_calls`, the spec's cap on `n`, and empty stop
strings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import create_app
from app.backends.translate import stop_sequences
from tests.support.openai_checks import check_error, check_invalid_param

CHAT = "/v1/chat/completions"
USER = {"role": "user", "content": "hi"}
TOOL = {"type": "function", "function": {"name": "f"}}


def body(**fields: Any) -> dict[str, Any]:
    """A valid chat request changed by `fields`."""
    return {"model": "mock", "messages": [USER], **fields}


def post_raw(client, raw: bytes | str, path: str = CHAT):
    return client.post(path, data=raw, headers={"Content-Type": "application/json"})


def invalid(response, param: str | None, code: str | None) -> Any:
    """The 400's error, checked to name `param` with `code`."""
    assert response.status_code == 400, response.get_data(as_text=True)
    if param is None:
        error = check_error(response.get_json(), 400)
    else:
        error = check_invalid_param(response.get_json(), param)
    assert (error.type, error.param, error.code) == ("invalid_request_error", param, code)
    return error


def with_content(content: str) -> str:
    """A chat request whose user message is `content`, JSON text spliced in verbatim."""
    return json.dumps(body(messages=[{"role": "user", "content": "@@"}])).replace('"@@"', content)


# -- lone surrogates -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (with_content(r'"\ud800"'), "messages[0].content"),
        (with_content(r'"ok \uDFFF"'), "messages[0].content"),
        (with_content(r'"\ude00\ud83d"'), "messages[0].content"),
        (with_content(r'[{"type": "text", "text": "a\udbffb"}]'), "messages[0].content[0].text"),
        (json.dumps(body())[:-1] + r', "vendor": {"k": ["\ud800"]}}', "vendor.k[0]"),
        (json.dumps(body())[:-1] + r', "\ud800x": 1}', r"\ud800x"),
    ],
)
def test_lone_surrogates_are_refused_where_they_stand(client, raw, param):
    error = invalid(post_raw(client, raw), param, "invalid_value")
    assert "lone UTF-16 surrogate" in error.message
    # Neither the message nor `param` may carry the unencodable character itself.
    error.message.encode("utf-8")


@pytest.mark.parametrize(
    ("path", "raw", "param"),
    [
        ("/v1/completions", r'{"model": "mock", "prompt": "\ud800"}', "prompt"),
        ("/v1/embeddings", r'{"model": "mock", "input": ["x", "\ud800"]}', "input[1]"),
    ],
)
def test_lone_surrogates_are_refused_on_every_endpoint(client, path, raw, param):
    invalid(post_raw(client, raw, path), param, "invalid_value")


def test_surrogates_in_utf16_bodies_are_found_too(client):
    raw = with_content(r'"\ud800"').encode("utf-16")
    invalid(post_raw(client, raw), "messages[0].content", "invalid_value")


def test_utf8_encoded_surrogates_are_not_json(client):
    # ED A0 80 is U+D800 encoded as if it were a character: not well-formed UTF-8.
    raw = with_content('"x"').encode().replace(b'"x"', b'"\xed\xa0\x80"')
    error = invalid(post_raw(client, raw), None, None)
    assert error.message.startswith("We could not parse the JSON body of your request.")


@pytest.mark.parametrize("content", [r'"\ud83d\ude00"', r'"\\ud800"', '"\U0001f600"'])
def test_pairs_and_escaped_backslashes_are_fine(client, content):
    response = post_raw(client, with_content(content))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_top_level_constants_are_a_400_not_a_500(client):
    for raw in ("NaN", "1e999", r'"\ud800"'):
        invalid(post_raw(client, raw), None, "invalid_json")
    invalid(post_raw(client, "[NaN]"), "[0]", "invalid_value")


# -- numbers that overflow -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fragment", "param", "shown"),
    [
        ('"temperature": 1e999', "temperature", "1e999"),
        ('"temperature": -1E+400', "temperature", "-1E+400"),
        ('"foo": 1e999', "foo", "1e999"),
        ('"foo": ' + "9" * 400 + ".0", "foo", "9" * 37 + "..."),
        (
            '"tools": [{"type": "function", "function": {"name": "f", '
            '"parameters": {"type": "object", "maximum": 1e999}}}]',
            "tools[0].function.parameters.maximum",
            "1e999",
        ),
    ],
)
def test_numbers_too_large_for_a_float_are_refused(client, fragment, param, shown):
    raw = json.dumps(body())[:-1] + ", " + fragment + "}"
    error = invalid(post_raw(client, raw), param, "invalid_value")
    assert error.message == (
        f"Invalid value for '{param}': {shown} is too large to be represented as a number "
        "(the largest magnitude is about 1.798e+308)."
    )


def test_nan_keeps_its_own_message(client):
    raw = json.dumps(body())[:-1] + ', "temperature": NaN}'
    error = invalid(post_raw(client, raw), "temperature", "invalid_value")
    assert error.message == "Invalid value for 'temperature': NaN is not a JSON number."


@pytest.mark.parametrize("number", ["1e-999", "1.7e308", "1" + "0" * 400])
def test_numbers_that_fit_are_fine(client, number):
    raw = json.dumps(body())[:-1] + f', "vendor_extra": {number}}}'
    assert post_raw(client, raw).status_code == 200


# -- tools and tool calls ------------------------------------------------------------------


def test_at_most_128_tools(client):
    tools = [{"type": "function", "function": {"name": f"f{i}"}} for i in range(129)]
    assert client.post(CHAT, json=body(tools=tools[:128])).status_code == 200
    error = invalid(client.post(CHAT, json=body(tools=tools)), "tools", "array_above_max_length")
    assert "maximum length 128, but got an array with length 129" in error.message


@pytest.mark.parametrize("value", [True, False])
def test_parallel_tool_calls_needs_tools(client, value):
    response = client.post(CHAT, json=body(parallel_tool_calls=value))
    error = invalid(response, "parallel_tool_calls", "invalid_value")
    assert error.message == (
        "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed "
        "when 'tools' are specified."
    )
    assert client.post(CHAT, json=body(parallel_tool_calls=value, tools=[TOOL])).status_code == 200


def test_parallel_tool_calls_null_is_still_a_type_error(client):
    # As before the check above: the spec's boolean is not nullable, with or without tools.
    for fields in ({}, {"tools": [TOOL]}):
        response = client.post(CHAT, json=body(parallel_tool_calls=None, **fields))
        invalid(response, "parallel_tool_calls", "invalid_type")


@pytest.mark.parametrize(
    "fields",
    [{}, {"tool_choice": "required"}, {"tool_choice": "none"}, {"parallel_tool_calls": True}],
)
def test_empty_tools_are_refused(client, fields):
    # OpenAI's answer (the spec sets no minimum): the list itself is named, before tool_choice.
    response = client.post(CHAT, json=body(tools=[], **fields))
    error = invalid(response, "tools", "empty_array")
    assert error.message == (
        "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an "
        "empty array instead."
    )


def test_empty_tool_calls_are_refused(client):
    assistant = {"role": "assistant", "content": "x", "tool_calls": []}
    response = client.post(CHAT, json=body(messages=[USER, assistant, USER]))
    error = invalid(response, "messages[1].tool_calls", "empty_array")
    assert error.message == (
        "Invalid 'messages[1].tool_calls': empty array. Expected an array with minimum "
        "length 1, but got an empty array instead."
    )


# -- n, user and stop ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fields"),
    [(CHAT, {"messages": [USER]}), ("/v1/completions", {"prompt": "hi"})],
)
def test_n_never_exceeds_the_spec_maximum(config, path, fields):
    client = create_app({**config, "GATEWAY_MAX_N": 500}).test_client()
    assert client.post(path, json={"model": "mock", "n": 128, **fields}).status_code == 200
    response = client.post(path, json={"model": "mock", "n": 129, **fields})
    error = invalid(response, "n", "integer_above_max_value")
    assert "Expected a value <= 128" in error.message


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        (CHAT, {"messages": [USER]}),
        ("/v1/completions", {"prompt": "hi"}),
        ("/v1/embeddings", {"input": "hi"}),
    ],
)
def test_user_is_not_nullable(client, path, fields):
    response = client.post(path, json={"model": "mock", "user": None, **fields})
    invalid(response, "user", "invalid_type")


def reply(client, **fields: Any) -> str:
    response = client.post(CHAT, json=body(**fields))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["choices"][0]["message"]["content"]


def test_an_empty_stop_string_is_ignored_in_both_forms(client):
    plain = reply(client)
    assert plain
    assert reply(client, stop="") == reply(client, stop=[""]) == plain


@pytest.mark.parametrize(
    ("stop", "expected"),
    [(None, []), ("", []), ("x", ["x"]), (["", "a", ""], ["a"]), ([""], [])],
)
def test_stop_sequences_drop_empty_strings(stop, expected):
    assert stop_sequences({"stop": stop}) == expected
