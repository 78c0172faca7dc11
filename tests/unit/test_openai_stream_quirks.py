"""Streams of OpenAI-compatible servers that stray from OpenAI's: a finished answer without
`[DONE]`, llama.cpp's `error:` lines and usage inside a vendor extension (`x_groq`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import observe
from app.backends.sse import RawSSEDecoder
from tests.support.openai_checks import check_chat_sse, check_error
from tests.support.openai_upstream import (
    CHAT_URL,
    UPSTREAM,
    chat_body,
    chunk,
    make_app,
    sse_body,
    sse_payloads,
    stream_chunks,
)

USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
# Groq's place for a stream's usage: a vendor extension on the finish chunk, with its timings.
GROQ_USAGE = {**USAGE, "queue_time": 0.01, "prompt_time": 0.002, "total_time": 0.03}
# llama.cpp before its fix sent a failure as an `error:` line, then `[DONE]`.
CONTEXT_ERROR = (
    b'error: {"code":400,"message":"the request exceeds the available context size",'
    b'"type":"invalid_request_error"}\n\ndata: [DONE]\n\n'
)


@pytest.fixture
def gateway(monkeypatch):
    """Post a stream request (a chat one with `extra`, unless given `path` and `body`) to a
    gateway on the fake upstream; returns the response, its body and its Exchange."""
    app = make_app(monkeypatch)
    exchanges: list[observe.Exchange] = []
    observe.add_observer(app, exchanges.append)
    client = app.test_client()

    def post(path: str = "/v1/chat/completions", body: Any = None, **extra: Any):
        response = client.post(path, json=body or chat_body(stream=True, **extra))
        data = response.get_data()
        response.close()
        return response, data, exchanges[-1]

    return post


def sse(body: bytes) -> dict[str, Any]:
    """`responses` arguments for an SSE answer."""
    return {"body": body, "content_type": "text/event-stream"}


def relayed(events: list[dict[str, Any]]) -> list[Any]:
    """What the client gets for upstream chunks: each with the client's model, then `[DONE]`."""
    return [{**event, "model": "gw"} for event in events] + ["[DONE]"]


def as_sse(payloads: list[Any]) -> list[str]:
    return [p if isinstance(p, str) else json.dumps(p) for p in payloads]


# -- a finished answer without [DONE] -------------------------------------------------------


@pytest.mark.parametrize(
    "events",
    [
        stream_chunks("Hel", "lo"),  # text-generation-inference before 2.1.1, llama-box
        [*stream_chunks("Hi"), {**chunk({}), "choices": [], "usage": USAGE}],
        [chunk({"role": "assistant", "content": "Hi"}), chunk({}, "length", usage=USAGE)],
    ],
)
def test_a_finished_stream_without_done_ends_with_done(gateway, upstream, events):
    upstream.post(CHAT_URL, **sse(sse_body(events, done=False)))
    response, body, exchange = gateway()
    assert response.status_code == 200
    assert sse_payloads(body) == relayed(events)
    assert exchange.stream_error is None


def test_the_added_done_makes_a_stream_the_sdk_accepts(gateway, upstream):
    upstream.post(CHAT_URL, **sse(sse_body(stream_chunks("Hel", "lo"), done=False)))
    _, body, _ = gateway()
    assembled = check_chat_sse(as_sse(sse_payloads(body)))
    assert assembled["choices"][0]["message"]["content"] == "Hello"


def test_the_usage_chunk_asked_for_comes_before_the_added_done(gateway, upstream):
    upstream.post(CHAT_URL, **sse(sse_body(stream_chunks("one two"), done=False)))
    request = {"stream_options": {"include_usage": True}}
    _, body, exchange = gateway(**request)
    *_, last, done = sse_payloads(body)
    assert done == "[DONE]" and last["choices"] == []
    assert last["usage"]["completion_tokens"] >= 2
    assert exchange.completion_tokens == last["usage"]["completion_tokens"]


def test_a_finished_legacy_stream_without_done_ends_with_done(gateway, upstream):
    text = {"id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "m"}
    choice = {"index": 0, "text": "", "logprobs": None, "finish_reason": None}
    events = [
        {**text, "choices": [{**choice, "text": "Once"}]},
        {**text, "choices": [{**choice, "finish_reason": "stop"}]},
    ]
    upstream.post(UPSTREAM + "/completions", **sse(sse_body(events, done=False)))
    request = {"model": "gw", "prompt": "Once upon", "stream": True}
    response, body, exchange = gateway("/v1/completions", request)
    assert sse_payloads(body) == relayed(events)
    assert exchange.stream_error is None


@pytest.mark.parametrize(
    "body",
    [
        sse_body(stream_chunks("Hel", "lo")[:-1], done=False),  # no finish_reason yet
        sse_body(stream_chunks("Hel"), done=False) + b'data: {"id":"chatcmpl-up1","cho',
        sse_body(stream_chunks("Hel"), done=False) + b"data: [DO",
    ],
)
def test_an_unfinished_stream_without_done_still_ends_with_an_error(gateway, upstream, body):
    upstream.post(CHAT_URL, **sse(body))
    _, relayed_body, exchange = gateway()
    last = sse_payloads(relayed_body)[-1]
    assert check_error(last).code == "upstream_stream_incomplete"
    assert exchange.stream_error == "server_error"


# -- llama.cpp's `error:` lines -------------------------------------------------------------


def test_an_error_line_midway_ends_the_stream_with_that_error(gateway, upstream):
    events = stream_chunks("Hel")[:2]
    failure = b'error: {"code":500,"message":"KV cache is full","type":"server_error"}\n\n'
    upstream.post(CHAT_URL, **sse(sse_body(events, done=False) + failure + b"data: [DONE]\n\n"))
    response, body, exchange = gateway()
    *chunks, last = sse_payloads(body)
    assert chunks == [{**event, "model": "gw"} for event in events]
    error = check_error(last)
    assert (error.message, error.type, error.code) == ("KV cache is full", "server_error", None)
    assert exchange.stream_error == "server_error"


def test_an_error_line_first_is_an_error_response(gateway, upstream):
    upstream.post(CHAT_URL, **sse(CONTEXT_ERROR))
    response, body, _ = gateway()
    assert response.status_code == 400
    error = check_error(json.loads(body), 400)
    assert error.message == "the request exceeds the available context size"
    assert (error.type, error.code) == ("invalid_request_error", None)


def test_only_the_openai_relay_reads_error_lines():
    # Elsewhere an `error:` line stays what the SSE spec makes it: a field to ignore.
    assert RawSSEDecoder().feed(CONTEXT_ERROR) == [(b"[DONE]", b"", None)]
    assert RawSSEDecoder(error_field=True).feed(CONTEXT_ERROR)[0].event == b"error"


# -- usage in a vendor extension ------------------------------------------------------------


def groq_stream(*, own_usage_chunk: bool = False) -> list[dict[str, Any]]:
    """Groq's stream: its id in `x_groq` first, its usage there on the finish chunk."""
    events = stream_chunks("Hi", " there")
    events[0] = {**events[0], "x_groq": {"id": "req_1"}}
    events[-1] = {**events[-1], "x_groq": {"id": "req_1", "usage": GROQ_USAGE}}
    if own_usage_chunk:
        events.append({**chunk({}), "choices": [], "usage": USAGE})
    return events


def test_usage_in_a_vendor_extension_is_recorded(gateway, upstream):
    events = groq_stream()
    upstream.post(CHAT_URL, **sse(sse_body(events)))
    _, body, exchange = gateway()
    assert sse_payloads(body) == relayed(events)
    assert (exchange.prompt_tokens, exchange.completion_tokens) == (9, 4)


def test_usage_in_a_vendor_extension_is_the_usage_chunk_asked_for(gateway, upstream):
    events = groq_stream()
    upstream.post(CHAT_URL, **sse(sse_body(events)))
    _, body, exchange = gateway(stream_options={"include_usage": True})
    *chunks, usage, done = sse_payloads(body)
    assert chunks == relayed(events)[:-1] and done == "[DONE]"
    assert usage == {
        "id": "chatcmpl-up1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gw",
        "choices": [],
        "usage": GROQ_USAGE,
    }
    assert (exchange.prompt_tokens, exchange.completion_tokens) == (9, 4)


def test_a_vendor_usage_does_not_double_the_upstreams_own_usage_chunk(gateway, upstream):
    events = groq_stream(own_usage_chunk=True)
    upstream.post(CHAT_URL, **sse(sse_body(events)))
    _, body, _ = gateway(stream_options={"include_usage": True})
    assert sse_payloads(body) == relayed(events)
