"""Answers of OpenAI-compatible servers that stray from OpenAI's shapes: `created` with a
fraction of a second (SambaNova), chunk choices without `delta` (Azure's asynchronous content
filter), and a model list sent as a bare array (Together)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.backends.openai.rewrite import ModelRewriter, WholeSecondsRewriter
from app.backends.openai.stream import relay
from app.errors import UpstreamError
from tests.support.openai_checks import check_chat_completion, check_chat_sse, check_model_list
from tests.support.openai_upstream import (
    CHAT_URL,
    UPSTREAM,
    chat_body,
    completion,
    make_app,
    sse_body,
    sse_payloads,
    stream_chunks,
)

FRACTIONAL = 1757876416.5661082


@pytest.fixture
def client(monkeypatch):
    return make_app(monkeypatch).test_client()


def fractional(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**event, "created": FRACTIONAL} for event in events]


# -- created ----------------------------------------------------------------------------------


def test_a_fractional_created_in_an_answer_becomes_whole_seconds(client, upstream):
    answer = completion("Hi there", created=FRACTIONAL, x_extra={"kept": True})
    upstream.post(CHAT_URL, json=answer)
    response = client.post("/v1/chat/completions", json=chat_body())
    body = response.get_json()
    assert body == {**answer, "created": 1757876416, "model": "gw"}
    assert type(body["created"]) is int
    check_chat_completion({k: v for k, v in body.items() if k != "x_extra"})


def test_a_fractional_created_in_a_stream_becomes_whole_seconds(client, upstream):
    events = fractional(stream_chunks("Hel", "lo"))
    upstream.post(CHAT_URL, body=sse_body(events), content_type="text/event-stream")
    request = chat_body(stream=True)
    payloads = sse_payloads(client.post("/v1/chat/completions", json=request).get_data())
    assert payloads == [{**e, "created": 1757876416, "model": "gw"} for e in events] + ["[DONE]"]
    assert all(type(p["created"]) is int for p in payloads[:-1])
    check_chat_sse([p if isinstance(p, str) else json.dumps(p) for p in payloads], request)


def test_the_gateways_usage_chunk_has_whole_seconds_too(client, upstream):
    events = fractional(stream_chunks("Hel", "lo"))
    upstream.post(CHAT_URL, body=sse_body(events), content_type="text/event-stream")
    request = chat_body(stream=True, stream_options={"include_usage": True})
    payloads = sse_payloads(client.post("/v1/chat/completions", json=request).get_data())
    assert payloads[-2]["choices"] == [] and payloads[-2]["created"] == 1757876416


@pytest.mark.parametrize(
    ("first", "rewriter"),
    [
        (b'{"id":"x","created":1700000000,"model":"m","choices":[]}', ModelRewriter),
        (b'{"id":"x","created" : 1.7e9,"model":"m","choices":[]}', WholeSecondsRewriter),
        (b'{"choices":[{"delta":{"content":"\\"created\\": 1.5"}}],"model":"m"}', ModelRewriter),
    ],
)
def test_only_a_fractional_first_chunk_costs_a_parse_per_event(first, rewriter):
    assert type(ModelRewriter("gw").for_stream(first)) is rewriter


def test_an_ordinary_stream_keeps_the_upstreams_bytes():
    body = sse_body(stream_chunks("a"))
    out = b"".join(relay("up", [body], ModelRewriter("gw"), UpstreamError))
    assert out == body.replace(b'"model":"real-model"', b'"model":"gw"')


# -- choices without delta -----------------------------------------------------------------------

ANNOTATION = (
    b'{"choices":[{"content_filter_offsets":{"check_offset":5},"finish_reason":null,"index":0}],'
    b'"created":0,"id":"","model":"","object":""}'
)


def test_a_chat_chunk_choice_without_delta_gets_an_empty_one():
    out = json.loads(ModelRewriter("gw", chat=True).event(ANNOTATION))
    assert out["choices"][0]["delta"] == {} and out["model"] == "gw"
    assert out["choices"][0]["content_filter_offsets"] == {"check_offset": 5}


def test_the_delta_fix_holds_in_a_stream_with_fractional_times_too():
    first = b'{"id":"x","created":1.5,"model":"m","choices":[{"index":0,"delta":{}}]}'
    rewriter = ModelRewriter("gw", chat=True).for_stream(first)
    assert json.loads(rewriter.event(ANNOTATION))["choices"][0]["delta"] == {}


@pytest.mark.parametrize(
    "data",
    [
        b'{"id":"x","model":"m","choices":[{"index":0,"delta":{"content":"a"}}]}',
        b'{"id":"x","model":"m","choices":[],"usage":{"total_tokens":3}}',
    ],
)
def test_chunks_with_a_delta_or_no_choices_keep_their_bytes(data):
    assert ModelRewriter("gw", chat=True).event(data) == data.replace(b'"m"', b'"gw"')


def test_legacy_completion_chunks_get_no_delta():
    data = b'{"id":"x","object":"text_completion","model":"m","choices":[{"text":"a","index":0}]}'
    assert ModelRewriter("gw").event(data) == data.replace(b'"m"', b'"gw"')


def test_a_relayed_chat_stream_has_a_delta_in_every_choice(client, upstream):
    body = sse_body([*stream_chunks("ab")[:-1], json.loads(ANNOTATION), stream_chunks("ab")[-1]])
    upstream.post(CHAT_URL, body=body, content_type="text/event-stream")
    payloads = sse_payloads(client.post("/v1/chat/completions", json=chat_body(stream=True)).data)
    chunks = payloads[:-1]
    assert len(chunks) == 4 and payloads[-1] == "[DONE]"
    assert all(choice["delta"] is not None for chunk in chunks for choice in chunk["choices"])
    assert chunks[2]["choices"][0]["delta"] == {}


# -- model lists --------------------------------------------------------------------------------


def test_a_model_list_sent_as_a_bare_array_is_discovered(monkeypatch, upstream, clock):
    models = [{"id": "up/*", "backend": "up", "strip_prefix": "up/"}]
    backend = {"discover_models": True}
    client = make_app(monkeypatch, backend=backend, models=models).test_client()
    listing = [
        {"id": "meta-llama/Llama-3-8b", "object": "model", "created": 1, "type": "chat"},
        {"id": "BAAI/bge-large", "object": "model", "created": 2, "type": "embedding"},
    ]
    upstream.get(UPSTREAM + "/models", json=listing)
    response = client.get("/v1/models")
    data = check_model_list(response.get_json())
    assert [model.id for model in data] == ["up/meta-llama/Llama-3-8b", "up/BAAI/bge-large"]
    assert [model.created for model in data] == [1, 2]
