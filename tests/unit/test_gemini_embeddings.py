"""Gemini backend: `/v1/embeddings` through embedContent and batchEmbedContents."""

from __future__ import annotations

import base64
import json
import math
import struct

import pytest
import responses

from tests.fakes.gemini import error_body
from tests.support.openai_checks import check_embeddings, check_error
from tests.unit.gemini_helpers import BASE, KEY, gemini_client

MODEL_URL = f"{BASE}/models/gemini-embedding-001"
VALUES = [0.013168523, -0.008711934, -0.046782676, 0.00069968984]


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


def embed(client, **body):
    body.setdefault("model", "text-embedding-3-small")
    return client.post("/v1/embeddings", json=body)


def test_single_input_uses_embed_content(client, upstream):
    upstream.post(f"{MODEL_URL}:embedContent", json={"embedding": {"values": VALUES}})
    request = {"model": "text-embedding-3-small", "input": "What is the meaning of life?"}
    answer = embed(client, **request, dimensions=4)
    assert answer.status_code == 200, answer.json
    check_embeddings(answer.json, request)
    assert [(d["object"], d["index"]) for d in answer.json["data"]] == [("embedding", 0)]
    norm = math.sqrt(sum(v * v for v in VALUES))
    assert answer.json["data"][0]["embedding"] == pytest.approx([v / norm for v in VALUES])
    assert answer.json["model"] == "text-embedding-3-small"
    usage = answer.json["usage"]
    assert usage["prompt_tokens"] == usage["total_tokens"] > 0
    call = upstream.calls[0].request
    assert json.loads(call.body) == {
        "content": {"parts": [{"text": "What is the meaning of life?"}]},
        "outputDimensionality": 4,
    }
    assert call.headers["x-goog-api-key"] == KEY


def test_arrays_use_batches_of_at_most_100(client, upstream):
    def answer(request):
        items = json.loads(request.body)["requests"]
        vectors = [{"values": [float(len(item["content"]["parts"][0]["text"]))]} for item in items]
        return 200, {}, json.dumps({"embeddings": vectors})

    upstream.add_callback(responses.POST, f"{MODEL_URL}:batchEmbedContents", callback=answer)
    texts = ["x" * (i % 7 + 1) for i in range(150)]
    result = embed(client, input=texts, task_type="RETRIEVAL_DOCUMENT")
    assert result.status_code == 200, result.json
    check_embeddings(result.json)
    assert [d["embedding"] for d in result.json["data"]] == [[float(len(t))] for t in texts]
    assert [d["index"] for d in result.json["data"]] == list(range(150))
    batches = [json.loads(c.request.body)["requests"] for c in upstream.calls]
    assert [len(b) for b in batches] == [100, 50]
    assert batches[0][0] == {
        "model": "models/gemini-embedding-001",
        "content": {"parts": [{"text": "x"}]},
        "taskType": "RETRIEVAL_DOCUMENT",
    }


def test_base64_is_little_endian_float32(client, upstream):
    upstream.post(f"{MODEL_URL}:batchEmbedContents", json={"embeddings": [{"values": VALUES}]})
    request = {"model": "text-embedding-3-small", "input": ["hi"], "encoding_format": "base64"}
    answer = embed(client, **request)
    assert answer.status_code == 200
    check_embeddings(answer.json, request)
    decoded = struct.unpack("<4f", base64.b64decode(answer.json["data"][0]["embedding"]))
    assert decoded == pytest.approx(VALUES, rel=1e-6)


def test_token_arrays_are_refused(client):
    answer = embed(client, input=[[1, 2, 3]])
    assert answer.status_code == 400
    assert check_error(answer.json).param == "input"


def test_wrong_number_of_vectors_is_bad_gateway(client, upstream):
    upstream.post(f"{MODEL_URL}:batchEmbedContents", json={"embeddings": [{"values": VALUES}]})
    assert embed(client, input=["a", "b"]).status_code == 502


def test_upstream_error_is_mapped(client, upstream):
    message = "models/gemini-embedding-001 is not found for API version v1beta."
    upstream.post(
        f"{MODEL_URL}:embedContent", json=error_body(404, "NOT_FOUND", message), status=404
    )
    answer = embed(client, input="hi")
    assert answer.status_code == 404
    assert check_error(answer.json).code == "model_not_found"


def test_list_models(monkeypatch, upstream):
    client = gemini_client(monkeypatch)
    upstream.get(
        f"{BASE}/models?pageSize=1000",
        json={"models": [{"name": "models/gemini-2.5-flash"}, {"name": "models/embedding-001"}]},
    )
    backend = client.application.extensions["gateway.backends"]["gemini"]
    assert [m["id"] for m in backend.list_models()] == ["gemini-2.5-flash", "embedding-001"]
    assert upstream.calls[0].request.headers["x-goog-api-key"] == KEY


@pytest.mark.parametrize("encoding_format", ["float", "base64"])
def test_shortened_vectors_have_length_one_as_openai_s_do(client, upstream, encoding_format):
    # Gemini normalizes only full-size vectors; OpenAI clients rank by dot product.
    vectors = {"embeddings": [{"values": [3.0, 4.0]}, {"values": [0.0, 0.0]}]}
    upstream.post(f"{MODEL_URL}:batchEmbedContents", json=vectors)
    request = {"input": ["a", "b"], "dimensions": 2, "encoding_format": encoding_format}
    answer = embed(client, **request)
    assert answer.status_code == 200, answer.json
    got = [d["embedding"] for d in answer.json["data"]]
    if encoding_format == "base64":
        got = [list(struct.unpack("<2f", base64.b64decode(g))) for g in got]
    assert got == [pytest.approx([0.6, 0.8]), [0.0, 0.0]]
    assert json.loads(upstream.calls[0].request.body)["requests"][0]["outputDimensionality"] == 2


def test_full_size_vectors_are_passed_unchanged(client, upstream):
    upstream.post(f"{MODEL_URL}:embedContent", json={"embedding": {"values": [3.0, 4.0]}})
    answer = embed(client, input="a")
    assert answer.json["data"][0]["embedding"] == [3.0, 4.0]


@pytest.mark.parametrize("values", [["x", 1.0], [True, 0.5], [None], "1,2"])
def test_vectors_that_are_not_numbers_are_bad_gateway(client, upstream, values):
    upstream.post(f"{MODEL_URL}:embedContent", json={"embedding": {"values": values}})
    answer = embed(client, input="a", encoding_format="base64")
    assert answer.status_code == 502
    check_error(answer.json)
