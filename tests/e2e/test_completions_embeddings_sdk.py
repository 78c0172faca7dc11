"""Legacy completions and embeddings through the Procfile's gunicorn, with the official SDK
and LangChain; every exchange is checked against the spec and the SDK's strict types."""

from __future__ import annotations

import math
import struct

import httpx
import openai
import pytest
from langchain_openai import OpenAIEmbeddings

from tests.support.recording import RecordingTransport
from tests.support.servers import start_gateway

pytestmark = pytest.mark.slow

KEY = "sk-test-client"
MODELS = {
    "backends": {"mock": {"type": "mock"}},
    "models": [
        {"id": "gpt-3.5-turbo-instruct", "backend": "mock"},
        {"id": "gpt-4o", "backend": "mock"},
        {"id": "text-embedding-3-small", "backend": "mock"},
        {"id": "text-embedding-3-large", "backend": "mock"},
        {"id": "text-embedding-ada-002", "backend": "mock", "endpoints": ["embeddings"]},
        {"id": "gpt-4o-mini", "backend": "mock", "endpoints": ["chat", "completions"]},
    ],
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    server = start_gateway(tmp_path_factory.mktemp("legacy"), MODELS, env={"GATEWAY_API_KEYS": KEY})
    yield server
    server.stop()


@pytest.fixture
def transport():
    recorder = RecordingTransport()
    yield recorder
    assert recorder.verify() > 0
    recorder.close()


@pytest.fixture
def client(gateway, transport):
    http = httpx.Client(transport=transport)
    yield openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, http_client=http)
    http.close()


def f32(values: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def test_sdk_completion(client):
    completion = client.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="Say this is a test", max_tokens=7, n=2, seed=3
    )
    assert completion.object == "text_completion"
    assert [c.index for c in completion.choices] == [0, 1]
    assert {c.finish_reason for c in completion.choices} == {"length"}
    assert completion.usage.completion_tokens == 14


def test_sdk_completion_stream(client):
    options = {"model": "gpt-3.5-turbo-instruct", "prompt": "Stream it", "max_tokens": 50}
    whole = client.completions.create(**options).choices[0].text
    chunks = list(client.completions.create(stream=True, **options))
    assert len(chunks) > 3
    assert "".join(c.choices[0].text for c in chunks) == whole
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.id for c in chunks} == {chunks[0].id}


def test_sdk_completion_stream_usage_and_prompt_list(gateway):
    # Outside the recorder: its shared checks number choices by `n` alone and expect null
    # usage on every chunk, which the completion schema does not allow.
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY)
    chunks = list(
        sdk.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt=["one", "two"],
            n=2,
            max_tokens=5,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 20
    finished = [c.choices[0].index for c in chunks[:-1] if c.choices[0].finish_reason]
    assert finished == [0, 1, 2, 3]


def test_sdk_completion_logprobs(client):
    options = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5}
    choice = client.completions.create(logprobs=3, **options).choices[0]
    logprobs = choice.logprobs
    assert "".join(logprobs.tokens) == choice.text and len(logprobs.tokens) == 5
    assert [len(top) for top in logprobs.top_logprobs] == [3] * 5
    assert logprobs.text_offset[0] == len("Say hi")
    chunks = list(client.completions.create(logprobs=3, stream=True, **options))
    streamed = [
        token for c in chunks if c.choices[0].logprobs for token in c.choices[0].logprobs.tokens
    ]
    assert streamed == logprobs.tokens


def test_sdk_completion_errors(client):
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt=["ok", ""], suffix="x")
    assert info.value.param == "suffix"
    with pytest.raises(openai.BadRequestError) as info:
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt=[[1], []])
    assert info.value.param == "prompt[1]"


def test_sdk_embeddings_float_and_base64(client):
    texts = ["The food was delicious", "The waiter was friendly"]
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float"
    )
    # Without encoding_format the SDK asks for base64 and decodes it itself.
    decoded = client.embeddings.create(model="text-embedding-3-small", input=texts)
    raw = client.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="base64"
    )
    assert isinstance(raw.data[0].embedding, str)
    for as_float, as_decoded in zip(floats.data, decoded.data, strict=True):
        assert len(as_float.embedding) == 1536
        assert f32(as_float.embedding) == as_decoded.embedding
    assert floats.usage.prompt_tokens == floats.usage.total_tokens > 0
    large = client.embeddings.create(model="text-embedding-3-large", input="x", dimensions=256)
    assert len(large.data[0].embedding) == 256


def test_sdk_embeddings_refused_for_chat_models(client):
    # gpt-4o lists no `endpoints` in this models file: the refusal is the mock backend's own.
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.embeddings.create(model="gpt-4o", input="x")
    assert info.value.message == (
        "Error code: 403 - You are not allowed to generate embeddings from this model"
    )


def test_sdk_models_are_refused_on_endpoints_they_do_not_serve(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(
            model="text-embedding-ada-002", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.message == (
        "Error code: 404 - This is not a chat model and thus not supported in the"
        " v1/chat/completions endpoint. Did you mean to use v1/embeddings?"
    )
    assert (info.value.param, info.value.code, info.value.type) == (
        "model",
        None,
        "invalid_request_error",
    )
    with pytest.raises(openai.PermissionDeniedError) as info:
        client.embeddings.create(model="gpt-4o-mini", input="x")
    assert info.value.message == (
        "Error code: 403 - You are not allowed to generate embeddings from this model"
    )
    assert client.completions.create(model="gpt-4o-mini", prompt="hi").model == "gpt-4o-mini"


def test_langchain_embeddings(gateway, client, transport):
    texts = ["LangChain sends token arrays", "and averages the chunks"]
    with httpx.Client(transport=transport) as http:
        embedder = OpenAIEmbeddings(
            model="text-embedding-3-small",
            base_url=gateway.url + "/v1",
            api_key=KEY,
            http_client=http,
        )
        documents = embedder.embed_documents(texts)
        query = embedder.embed_query(texts[0])
    sent = [e.request for e in transport.exchanges if e.path == "/v1/embeddings"]
    assert all(isinstance(r["input"][0], list) for r in sent), "expected token arrays"
    # Token arrays embed like the text they decode to.
    direct = client.embeddings.create(model="text-embedding-3-small", input=texts)
    for mine, theirs in zip(documents, direct.data, strict=True):
        assert all(
            math.isclose(a, b, abs_tol=1e-6) for a, b in zip(mine, theirs.embedding, strict=True)
        )
    assert query == documents[0]
