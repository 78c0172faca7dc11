"""`/v1/embeddings`: request schema, the mock's vectors, and models that cannot embed."""

from __future__ import annotations

import base64
import math
import struct

import pytest

from app import create_app
from app.backends import BACKEND_TYPES, Backend
from tests.support.openai_checks import check_embeddings, check_error

SMALL = "text-embedding-3-small"
MODELS = {
    "backends": {"mock": {"type": "mock"}, "chat": {"type": "chat-only"}},
    "models": [
        {"id": SMALL, "backend": "mock"},
        {"id": "text-embedding-3-large", "backend": "mock"},
        {"id": "text-embedding-ada-002", "backend": "mock"},
        {
            "id": "tiny",
            "backend": "mock",
            "model": "house-embedder",
            "dimensions": 8,
            "max_input_tokens": 5,
        },
        {"id": "gpt-4o", "backend": "mock"},
        {"id": "remote-chat", "backend": "chat"},
    ],
}


class ChatOnly(Backend):
    """A backend with no embeddings API (the base class answers)."""


@pytest.fixture
def client(monkeypatch, config):
    monkeypatch.setitem(BACKEND_TYPES, "chat-only", f"{__name__}:ChatOnly")
    return create_app({**config, "MODELS": MODELS}).test_client()


def embed(client, **body):
    body = {"model": SMALL, **body}
    response = client.post("/v1/embeddings", json=body)
    assert response.status_code == 200, response.json
    check_embeddings(response.json, body)
    return response.json


def vectors(client, **body) -> list[list[float]]:
    return [item["embedding"] for item in embed(client, **body)["data"]]


def f32(values: list[float]) -> tuple[float, ...]:
    return struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values))


# -- schema ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"input": "hello"},
        {"input": ["a", "b"]},
        {"input": [9906, 1917]},
        {"input": [[9906], [1917, 0]]},
        {"input": "x", "encoding_format": "base64", "dimensions": 3, "user": "u", "extra": 1},
        {"input": "x", "encoding_format": None, "dimensions": None},
    ],
)
def test_valid_requests_are_accepted(client, body):
    assert client.post("/v1/embeddings", json={"model": SMALL, **body}).status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": SMALL}, "input"),
        ({"input": "x"}, "model"),
        ({"model": SMALL, "input": ""}, "input"),
        ({"model": SMALL, "input": None}, "input"),
        ({"model": SMALL, "input": []}, "input"),
        ({"model": SMALL, "input": ["a", ""]}, "input[1]"),
        ({"model": SMALL, "input": ["a", 2]}, "input[1]"),
        ({"model": SMALL, "input": [1, 2.5]}, "input[1]"),
        ({"model": SMALL, "input": [[1], []]}, "input[1]"),
        ({"model": SMALL, "input": [[1], [2, "3"]]}, "input[1][1]"),
        ({"model": SMALL, "input": ["a"] * 2049}, "input"),
        ({"model": SMALL, "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": SMALL, "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": SMALL, "input": "x", "dimensions": "8"}, "dimensions"),
        ({"model": SMALL, "input": "x", "user": 1}, "user"),
        ({"model": SMALL, "input": "x", "user": None}, "user"),
    ],
)
def test_invalid_requests_name_the_param(client, body, param):
    response = client.post("/v1/embeddings", json=body)
    assert response.status_code == 400
    check_error(response.json, 400)
    assert response.json["error"]["param"] == param
    assert f"'{param}'" in response.json["error"]["message"]


def test_unprefixed_route(client):
    assert client.post("/embeddings", json={"model": SMALL, "input": "x"}).status_code == 200


# -- the mock's vectors ----------------------------------------------------------------


def test_vectors_are_deterministic_and_distinct(client):
    first = vectors(client, input=["alpha", "beta", "alpha"])
    again = vectors(client, input="alpha")
    assert first[0] == first[2] == again[0]
    assert first[0] != first[1]
    # Another model embeds the same text differently.
    assert vectors(client, model="text-embedding-ada-002", input="alpha")[0] != first[0]


def test_vectors_have_unit_length_and_the_model_size(client):
    for model, size in [(SMALL, 1536), ("text-embedding-3-large", 3072), ("tiny", 8)]:
        (vector,) = vectors(client, model=model, input="some text")
        assert len(vector) == size
        assert math.isclose(math.fsum(v * v for v in vector), 1.0, abs_tol=1e-6)


def test_dimensions_shorten_like_openai(client):
    (full,) = vectors(client, input="shorten me")
    (short,) = vectors(client, input="shorten me", dimensions=256)
    assert len(short) == 256
    assert math.isclose(math.fsum(v * v for v in short), 1.0, abs_tol=1e-6)
    norm = math.sqrt(math.fsum(v * v for v in full[:256]))
    assert all(math.isclose(s, v / norm, abs_tol=1e-6) for s, v in zip(short, full, strict=False))


def test_token_arrays_embed_like_their_text(client):
    (text,) = vectors(client, input=["Hello world"])
    assert vectors(client, input=[9906, 1917]) == vectors(client, input=[[9906, 1917]]) == [text]


def test_base64_decodes_to_the_same_floats(client):
    body = {"input": ["one", "two"], "dimensions": 64}
    floats = vectors(client, **body)
    encoded = vectors(client, encoding_format="base64", **body)
    for as_floats, as_text in zip(floats, encoded, strict=True):
        raw = base64.b64decode(as_text)
        assert len(raw) == 64 * 4
        assert struct.unpack("<64f", raw) == f32(as_floats)


def test_usage_counts_tokens(client):
    assert embed(client, input=[[1, 2, 3], [4]])["usage"]["prompt_tokens"] == 4
    body = embed(client, input=["Hello world", "again"])
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert body["object"] == "list" and body["model"] == SMALL
    assert [d["object"] for d in body["data"]] == ["embedding", "embedding"]


# -- refusals ---------------------------------------------------------------------------


def error_of(client, status: int, **body) -> dict:
    response = client.post("/v1/embeddings", json={"model": SMALL, "input": "x", **body})
    assert response.status_code == status, response.json
    return check_error(response.json, status).model_dump()


@pytest.mark.parametrize("model", ["gpt-4o", "remote-chat"])
def test_chat_models_cannot_embed(client, model):
    response = client.post("/v1/embeddings", json={"model": model, "input": "x"})
    assert response.status_code == 403
    check_error(response.json, 403)
    assert response.json["error"] == {
        "message": "You are not allowed to generate embeddings from this model",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_dimensions_limits(client):
    assert error_of(client, 400, dimensions=1537)["param"] == "dimensions"
    ada = error_of(client, 400, model="text-embedding-ada-002", dimensions=1536)
    assert ada["message"] == "This model does not support specifying dimensions."


def test_inputs_over_the_context_length_are_refused(client):
    assert embed(client, model="tiny", input=[[1] * 5])["usage"]["total_tokens"] == 5
    error = error_of(client, 400, model="tiny", input=[[1, 2], [1] * 6])
    assert error["code"] == "context_length_exceeded"
    assert "input 1" in error["message"]
