"""Property-based bad input against the request schemas: never a 500, always the envelope.

Random JSON bodies, valid requests with one value replaced by anything (or removed), invalid
UTF-8 and duplicate keys, on chat completions, completions and embeddings.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import create_app
from tests.conftest import MOCK_MODELS
from tests.support.fuzz import (
    CHAT,
    DELETE,
    FUZZ,
    VALID,
    check_answer,
    endpoints,
    json_values,
    paths,
    replaced,
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


@FUZZ
@given(data=st.data(), path=endpoints, value=json_values | st.just(DELETE))
def test_one_value_replaced_at_any_path(client, data, path, value):
    where = data.draw(st.sampled_from(list(paths(VALID[path]))))
    error = check_answer(post(client, path, json.dumps(replaced(VALID[path], where, value))))
    if error is not None and error.code not in _WHOLE_BODY and error.code != "model_not_found":
        # A problem with one value names where it is.
        assert error.param, f"no param for {where} = {value!r}: {error}"


@FUZZ
@given(path=endpoints, cut=st.integers(min_value=0), junk=st.binary(max_size=8))
def test_invalid_utf8_is_a_400(client, path, cut, junk):
    raw = json.dumps(VALID[path], ensure_ascii=False).encode()
    at = cut % (len(raw) + 1)
    # 0xFF never occurs in UTF-8, whatever the bytes around it.
    response = post(client, path, raw[:at] + b"\xff" + junk + raw[at:])
    error = check_answer(response)
    assert response.status_code == 400 and error.code == "invalid_json"


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
