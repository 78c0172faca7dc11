"""How a request's body and path arrive at the gateway.

The body limit without Content-Length (chunked), Content-Encoding, nesting too deep for the
parser, over-long integers, and doubled slashes.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from app import create_app
from tests.conftest import MOCK_MODELS
from tests.support.fuzz import CHAT, COMPLETIONS, EMBEDDINGS, check_answer
from tests.support.openai_checks import check_error

LIMIT = 1000
JSON = {"Content-Type": "application/json"}
BODY = json.dumps({"model": "mock", "messages": [{"role": "user", "content": "hi"}]}).encode()
BODIES = {
    CHAT: BODY,
    COMPLETIONS: json.dumps({"model": "mock", "prompt": "hi"}).encode(),
    EMBEDDINGS: json.dumps({"model": "mock", "input": "hi"}).encode(),
}


@pytest.fixture
def config() -> dict[str, Any]:
    """The test config with a small body limit."""
    return {
        "TESTING": True,
        "MODELS": MOCK_MODELS,
        "GATEWAY_API_KEYS": [],
        "MAX_CONTENT_LENGTH": LIMIT,
    }


def error_of(response, status: int) -> Any:
    """The envelope's error, checked to come with `status`."""
    assert response.status_code == status, response.get_data(as_text=True)
    return check_error(response.get_json(), status)


class Trickle:
    """A server's input stream that hands out a few bytes per read, as a chunked body arrives."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self.data, self.step = data, step

    def read(self, size: int = -1) -> bytes:
        size = self.step if size < 0 else min(size, self.step)
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


def post_chunked(client, stream: Any, path: str = CHAT, terminated: bool = True):
    """POST the body `stream` gives without Content-Length, as gunicorn passes a chunked one on."""
    environ: dict[str, Any] = {"wsgi.input": stream}
    if terminated:
        environ["wsgi.input_terminated"] = True
    response = client.post(
        path, headers={**JSON, "Transfer-Encoding": "chunked"}, environ_overrides=environ
    )
    assert "CONTENT_LENGTH" not in response.request.environ
    return response


# -- the body limit without Content-Length ----------------------------------------------------


def padded(size: int) -> bytes:
    """The valid chat body padded with spaces to `size` bytes."""
    return BODY + b" " * (size - len(BODY))


@pytest.mark.parametrize("size", [len(BODY), LIMIT - 1, LIMIT])
def test_chunked_body_up_to_the_limit_is_read_whole(client, size):
    response = post_chunked(client, Trickle(padded(size)))
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT + 2, 50 * LIMIT])
def test_chunked_body_over_the_limit_is_the_same_413_as_with_content_length(client, size):
    chunked = error_of(post_chunked(client, Trickle(padded(size))), 413)
    sized = error_of(client.post(CHAT, data=padded(size), headers=JSON), 413)
    assert chunked == sized
    assert (chunked.code, chunked.param) == ("request_too_large", None)
    assert f"{LIMIT} bytes" in chunked.message


def test_long_chunked_prompt_is_413_not_invalid_json(client):
    body = json.dumps({"model": "mock", "messages": [{"role": "user", "content": "a" * 5000}]})
    assert error_of(post_chunked(client, Trickle(body.encode())), 413).code == "request_too_large"


def test_unsized_body_from_a_server_that_does_not_end_it_stays_unread(client):
    # Without wsgi.input_terminated nothing tells where the body ends: werkzeug reads none.
    response = post_chunked(client, Trickle(BODY), terminated=False)
    assert response.status_code == 400


def test_broken_chunked_stream_is_still_invalid_body(client):
    class Broken(Trickle):
        def read(self, size: int = -1) -> bytes:
            raise OSError("bad chunk size")

    assert error_of(post_chunked(client, Broken(BODY)), 400).code == "invalid_body"


# -- Content-Encoding -------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(BODIES))
@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", True), ("br", False), ("GZIP", True), ("deflate", False), ("gzip, identity", True)],
)
def test_encoded_body_is_415(client, path, encoding, compress):
    data = gzip.compress(BODIES[path]) if compress else BODIES[path]
    response = client.post(path, data=data, headers={**JSON, "Content-Encoding": encoding})
    error = error_of(response, 415)
    assert (error.type, error.code, error.param) == (
        "invalid_request_error",
        "unsupported_media_type",
        None,
    )
    assert f"'{encoding}'" in error.message
    assert response.headers["Accept-Encoding"] == "identity"


@pytest.mark.parametrize("encoding", ["identity", "Identity", " identity ", ""])
def test_identity_encoding_is_read(client, encoding):
    response = client.post(CHAT, data=BODY, headers={**JSON, "Content-Encoding": encoding})
    assert response.status_code == 200, response.get_data(as_text=True)


# -- nesting too deep for the parser, over-long integers ----------------------------------------


@pytest.fixture
def deep_client():
    """An app with the default body limit (deep bodies are large) and nesting limit (64)."""
    return create_app(
        {"TESTING": True, "MODELS": MOCK_MODELS, "GATEWAY_API_KEYS": []}
    ).test_client()


def with_extra(value: str) -> str:
    """The chat body with `"x": value`, the JSON text spliced in verbatim."""
    return BODY.decode()[:-1] + f', "x": {value}}}'


@pytest.mark.parametrize("depth", [65, 999, 1000, 1001, 5000, 100_000])
@pytest.mark.parametrize("kind", ["array", "object"])
def test_any_depth_past_the_limit_is_nesting_too_deep(deep_client, depth, kind):
    if kind == "array":
        value, step = "[" * depth + "]" * depth, "[0]"
    else:
        value, step = '{"a":' * depth + "1" + "}" * depth, ".a"
    error = error_of(deep_client.post(CHAT, data=with_extra(value), headers=JSON), 400)
    # The body is level 1 and `x` level 2: the 64th level under `x` is one too many.
    assert (error.code, error.param) == ("nesting_too_deep", "x" + step * 63)


def test_deep_param_is_found_past_strings_and_escaped_keys(deep_client):
    deep = "[" * 3000 + "]" * 3000
    value = '[{"s": "]]}}[{,:"}, {"k\\"[": ' + deep + "}]"
    error = error_of(deep_client.post(CHAT, data=with_extra(value), headers=JSON), 400)
    assert (error.code, error.param) == ("nesting_too_deep", 'x[1].k"[' + "[0]" * 61)


@pytest.mark.parametrize(
    "value",
    ["[" * 100_000, "[" * 5000 + "}" * 5000, "[" * 5000 + "]" * 4999, '["' + "[" * 5000],
    ids=["unclosed", "mismatched", "one-short", "unterminated-string"],
)
def test_deep_body_that_is_not_json_is_invalid_json(deep_client, value):
    error = error_of(deep_client.post(CHAT, data=with_extra(value), headers=JSON), 400)
    assert error.message.startswith("We could not parse the JSON body of your request.")
    assert (error.code, error.param) == (None, None)


@pytest.mark.parametrize(
    ("field", "number", "param"),
    [
        ("n", "1" + "0" * 4300, "n"),
        ("n", "-" + "9" * 5000, "n"),
        ("temperature", "1" * 100_000, "temperature"),
        ("vendor", '{"a": [1, ' + "7" * 4400 + "]}", "vendor.a[1]"),
    ],
)
def test_integer_too_long_to_convert_is_too_large_for_its_field(deep_client, field, number, param):
    raw = BODY.decode()[:-1] + f', "{field}": {number}}}'
    error = error_of(deep_client.post(CHAT, data=raw, headers=JSON), 400)
    assert (error.code, error.param) == ("invalid_value", param)
    assert "too large" in error.message and len(error.message) < 300


def test_integer_the_parser_converts_keeps_its_schema_error(deep_client):
    raw = BODY.decode()[:-1] + ', "n": 1' + "0" * 4299 + "}"
    error = error_of(deep_client.post(CHAT, data=raw, headers=JSON), 400)
    assert (error.code, error.param) == ("integer_above_max_value", "n")


# -- doubled slashes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1//chat/completions"),
        ("POST", "/v1/chat//completions"),
        ("GET", "/v1//models"),
        ("GET", "/v1/models//mock"),
    ],
)
def test_doubled_slash_inside_a_path_is_an_ordinary_404(client, method, path):
    unknown = error_of(client.open("/v1/no-such-endpoint", method=method), 404)
    response = client.open(path, method=method, data=BODY, headers={**JSON, "Host": "evil.example"})
    error = error_of(response, 404)
    assert "Location" not in response.headers
    assert (error.type, error.code, error.param) == (unknown.type, unknown.code, unknown.param)
    assert path in error.message


@pytest.mark.parametrize(("method", "path"), [("POST", CHAT), ("GET", "/v1/models")])
def test_leading_slashes_are_ignored(client, method, path):
    # The test client would read `//v1/...` as a host name, so the path is set directly.
    response = client.open(
        path, method=method, data=BODY, headers=JSON, environ_overrides={"PATH_INFO": "/" + path}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    check_answer(response)
