"""Property-based bad input against the request schemas: never a 500, always the envelope.

Random JSON bodies, valid requests with one value replaced by anything (or removed), invalid
UTF-8 and duplicate keys, on chat completions, completions and embeddings.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import create_app
from app.schemas import NO_MODEL
from tests.conftest import MOCK_MODELS
from tests.support.fuzz import (
    CHAT,
    COMPLETIONS,
    DELETE,
    EMBEDDINGS,
    FUZZ,
    VALID,
    check_answer,
    endpoints,
    json_values,
    param_name,
    paths,
    replaced,
    value_at,
    wrong_types,
)

# Codes of errors that concern the body as a whole rather than one parameter.
_WHOLE_BODY = {"invalid_json", "invalid_content_type", "request_too_large"}


@pytest.fixture(scope="module")
def client():
    """One app for every example (hypothesis runs many examples per test)."""
    app = create_app({"TESTING": True, "MODELS": MOCK_MODELS, "GATEWAY_API_KEYS": []})
    return app.test_client()


def post(client, path: str, data: bytes | str):
    return client.post(path, data=data, headers={"Content-Type": "application/json"})


def test_every_valid_request_is_answered(client):
    for path, body in VALID.items():
        response = client.post(path, json=body)
        assert response.status_code == 200, response.get_data()


@FUZZ
@given(path=endpoints, body=json_values)
def test_any_json_body(client, path, body):
    check_answer(post(client, path, json.dumps(body)))


# Fields of any of the three requests: on another endpoint they are unknown, and kept.
FIELDS = sorted({name for body in VALID.values() for name in body}) + [
    "stream_options",
    "functions",
    "function_call",
    "modalities",
    "audio",
    "prediction",
    "max_completion_tokens",
    "parallel_tool_calls",
    "web_search_options",
    "echo",
    "best_of",
    "suffix",
]


@FUZZ
@given(
    path=endpoints,
    extra=st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=20), json_values, max_size=6),
)
def test_valid_request_with_random_fields(client, path, extra):
    check_answer(post(client, path, json.dumps({**VALID[path], **extra})))


_NAMES = {CHAT: "chat", COMPLETIONS: "completions", EMBEDDINGS: "embeddings"}
# Every path into every valid request, one case each: "chat:messages[1].content[0].text".
EVERY_PATH = [
    pytest.param(endpoint, where, id=f"{_NAMES[endpoint]}:{param_name(where)}")
    for endpoint, body in VALID.items()
    for where in paths(body)
]
# Fields whose value decides what a sibling may be: with `logprobs` null (absent) `top_logprobs`
# is refused, with `tools` null or empty `tool_choice` "auto", with `tool_calls` null or empty an
# assistant's null `content`; the items of an array share one type (`prompt`: strings or ids).
_DECIDES = {"logprobs": "top_logprobs", "tools": "tool_choice", "tool_calls": "content"}


def check_param(error, where: tuple) -> None:
    """A problem with one value names it: the path, a prefix of it, inside it, or a sibling the
    value or one around it decides (`_DECIDES`, or another item of the same array)."""
    if error is None or error.code in _WHOLE_BODY or error.code == "model_not_found":
        return
    if where == ("model",) and error.message == NO_MODEL:
        return  # OpenAI's answer to a missing `model` names no param
    named, parent, last = param_name(where), param_name(where[:-1]), where[-1]
    siblings = {
        param_name((*where[:depth], _DECIDES[key]))
        for depth, key in enumerate(where)
        if key in _DECIDES
    }
    if isinstance(last, int):
        siblings |= {f"{parent}[{index}]" for index in range(8)}
    related = (
        named == error.param
        or named.startswith((f"{error.param}.", f"{error.param}["))
        or (error.param or "").startswith((f"{named}.", f"{named}["))
        or error.param in siblings
    )
    assert related, f"param {error.param!r} for {named}: {error}"


@pytest.mark.parametrize(("endpoint", "where"), EVERY_PATH)
@settings(FUZZ, max_examples=8)
@given(data=st.data())
def test_wrong_types_at_every_path(client, endpoint, where, data):
    """Each JSON type but the field's own, at every path of every valid request."""
    body = VALID[endpoint]
    for value in data.draw(wrong_types(value_at(body, where))).values():
        error = check_answer(post(client, endpoint, json.dumps(replaced(body, where, value))))
        check_param(error, where)


@pytest.mark.parametrize(("endpoint", "where"), EVERY_PATH)
def test_removed_at_every_path(client, endpoint, where):
    error = check_answer(
        post(client, endpoint, json.dumps(replaced(VALID[endpoint], where, DELETE)))
    )
    check_param(error, where)


@FUZZ
@given(path=endpoints, cut=st.integers(min_value=0), junk=st.binary(max_size=8))
def test_invalid_utf8_is_a_400(client, path, cut, junk):
    raw = json.dumps(VALID[path], ensure_ascii=False).encode()
    at = cut % (len(raw) + 1)
    # 0xFF never occurs in UTF-8, whatever the bytes around it.
    response = post(client, path, raw[:at] + b"\xff" + junk + raw[at:])
    error = check_answer(response)
    assert (response.status_code, error.code, error.param) == (400, None, None)
    assert error.message.startswith("We could not parse the JSON body of your request.")


@FUZZ
@given(path=endpoints, raw=st.binary(max_size=200))
def test_random_bytes(client, path, raw):
    check_answer(post(client, path, raw))


@FUZZ
@given(path=endpoints, text=st.text(max_size=200))
def test_random_text(client, path, text):
    check_answer(post(client, path, text.encode("utf-8", "surrogatepass")))


def test_duplicate_keys_last_one_wins(client):
    hi = '[{"role": "user", "content": "hi"}]'
    raw = '{"model": "no-such-model", "model": "mock", "messages": ' + hi + "}"
    response = post(client, CHAT, raw)
    assert response.status_code == 200 and response.get_json()["model"] == "mock"
    raw = '{"model": "mock", "messages": ' + hi + ', "n": 1, "n": 99}'
    error = check_answer(post(client, CHAT, raw))
    assert (error.param, error.code) == ("n", "integer_above_max_value")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", ["temperature", "vendor_extra", "messages[0].x"])
def test_nan_and_infinity_are_refused_where_they_stand(client, constant, where):
    body = {"model": "mock", "messages": [{"role": "user", "content": "hi", "x": 1}]}
    if where == "messages[0].x":
        raw = json.dumps(body).replace('"x": 1', f'"x": {constant}')
    else:
        raw = json.dumps(body)[:-1] + f', "{where}": {constant}}}'
    error = check_answer(post(client, CHAT, raw))
    assert error.param == where


def test_strings_that_mention_nan_are_fine(client):
    body = {"model": "mock", "messages": [{"role": "user", "content": "NaN and Infinity"}]}
    assert client.post(CHAT, json=body).status_code == 200


class InvalidChunkSize(Exception):
    """Like gunicorn's: not an OSError or ValueError, so werkzeug does not translate it."""


class BrokenInput:
    """A WSGI input stream that fails as a server's does on a broken chunked body."""

    def read(self, *args):
        raise InvalidChunkSize("Invalid chunk size: b'zz'")

    readline = readinto = read


def test_an_unreadable_body_is_a_400(client):
    response = client.post(
        CHAT,
        headers={"Content-Type": "application/json"},
        # A chunked body: the server ends the input, so werkzeug reads it unwrapped.
        environ_overrides={"wsgi.input": BrokenInput(), "wsgi.input_terminated": True},
    )
    error = check_answer(response)
    assert (response.status_code, error.code) == (400, "invalid_body")
