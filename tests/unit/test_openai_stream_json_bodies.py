"""A stream request answered as `text/event-stream` with one JSON body instead of events: an
error object is that error, with the status it gets without `stream`; a whole answer is
replayed as its stream; anything else without events is still a stream cut short."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pytest

from app.backends.openai import stream as relay_module
from app.backends.openai.rewrite import ModelRewriter
from app.backends.openai.stream import relay
from app.errors import UpstreamError
from tests.support.openai_checks import check_chat_sse, check_error
from tests.support.openai_upstream import (
    CHAT_URL,
    SERVER_KEY,
    UPSTREAM,
    StreamGateway,
    chat_body,
    completion,
    split_every,
    sse_body,
    sse_payloads,
    stream_chunks,
)

CONTEXT = {
    "error": {
        "message": "This model's maximum context length is 8192 tokens.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
RATE_LIMIT = {"error": {"message": "Slow down", "type": "requests", "code": "rate_limit_exceeded"}}
OVERLOADED = {"error": {"message": f"Overloaded (key {SERVER_KEY})", "code": 503}}
RETRIED = [{"id": "gw", "backend": "up", "model": "real-model", "retries": 1}]


@pytest.fixture
def gateway(monkeypatch) -> Callable[..., StreamGateway]:
    """A factory of gateways, given models."""
    return functools.partial(StreamGateway, monkeypatch)


def as_sse(body: bytes | Exception, url: str = CHAT_URL) -> dict[str, Any]:
    """`responses` arguments for `body` sent as an event stream."""
    return {"url": url, "body": body, "content_type": "text/event-stream"}


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(CONTEXT).encode(),
        json.dumps(CONTEXT).encode() + b"\n",
        json.dumps(CONTEXT, indent=2).encode() + b"\n\n",  # several lines, a blank one
        b"\xef\xbb\xbf\r\n " + json.dumps(CONTEXT).encode(),
    ],
)
def test_an_error_body_is_that_error_before_any_byte(gateway, upstream, body):
    upstream.post(**as_sse(body))
    response, data, exchange = gateway()()
    error = check_error(json.loads(data), response.status_code)
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert (error.message, error.param) == (CONTEXT["error"]["message"], "messages")
    assert error.code == "context_length_exceeded"


def test_a_rate_limit_error_body_is_a_429_that_is_retried(gateway, upstream):
    upstream.post(**as_sse(json.dumps(RATE_LIMIT).encode()))
    response, data, _ = gateway()()
    assert response.status_code == 429
    assert check_error(json.loads(data), 429).message == "Slow down"
    upstream.post(**as_sse(json.dumps(RATE_LIMIT).encode()))
    upstream.post(**as_sse(sse_body(stream_chunks("ok"))))
    response, data, _ = gateway(RETRIED)()
    assert response.status_code == 200 and sse_payloads(data)[-1] == "[DONE]"


def test_a_server_error_body_is_a_scrubbed_502_that_is_retried(gateway, upstream):
    upstream.post(**as_sse(json.dumps(OVERLOADED).encode()))
    response, data, _ = gateway()()
    error = check_error(json.loads(data), 502)
    assert error.message == "Overloaded (key ***)" and SERVER_KEY not in data.decode()
    upstream.post(**as_sse(json.dumps(OVERLOADED).encode()))
    upstream.post(**as_sse(sse_body(stream_chunks("ok"))))
    response, data, _ = gateway(RETRIED)()
    assert response.status_code == 200 and len(upstream.calls) == 3


def test_a_whole_answer_is_replayed_as_its_stream(gateway, upstream):
    upstream.post(**as_sse(json.dumps(completion("Hello there!"), indent=1).encode()))
    request = chat_body(stream=True, stream_options={"include_usage": True})
    response, data, exchange = gateway()(body=request)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = data.decode().removesuffix("\n\n").split("\n\n")
    assembled = check_chat_sse([event.removeprefix("data: ") for event in events], request)
    assert assembled["choices"][0]["message"]["content"] == "Hello there!"
    assert {e["model"] for e in sse_payloads(data)[:-1]} == {"gw"}
    assert sse_payloads(data)[-2]["usage"]["total_tokens"] == 7
    assert (exchange.prompt_tokens, exchange.completion_tokens) == (5, 2)


def test_a_whole_answer_without_usage_asked_still_counts_its_tokens(gateway, upstream):
    upstream.post(**as_sse(json.dumps(completion("Hi")).encode()))
    response, data, exchange = gateway()()
    *chunks, done = sse_payloads(data)
    assert all(chunk["choices"] for chunk in chunks) and done == "[DONE]"  # no usage chunk
    assert (exchange.prompt_tokens, exchange.completion_tokens) == (5, 2)


def test_a_whole_legacy_completion_is_replayed(gateway, upstream):
    answer = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "real-model",
        "choices": [{"index": 0, "text": "four", "logprobs": None, "finish_reason": "stop"}],
    }
    upstream.post(**as_sse(json.dumps(answer).encode(), UPSTREAM + "/completions"))
    response, data, _ = gateway()(
        "/v1/completions", {"model": "gw", "prompt": "2+2=", "stream": True}
    )
    events = sse_payloads(data)
    assert [e["choices"][0]["text"] for e in events[:-1]] == ["four"]
    assert events[-1] == "[DONE]"


def test_a_json_body_that_is_neither_is_a_bad_response_as_without_the_event_stream(
    gateway, upstream
):
    upstream.post(**as_sse(b'{"id": "x", "object": "chat.completion"}'))
    upstream.post(url=CHAT_URL, json={"id": "x", "object": "chat.completion"})
    for _ in range(2):
        response, data, _ = gateway()()
        assert response.status_code == 502
        assert check_error(json.loads(data), 502).code == "upstream_bad_response"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\n\n",
        b": ping\n\n",
        b"not json at all",
        b": ping\n\n" + json.dumps(CONTEXT).encode(),  # an event stream first: not one body
    ],
)
def test_a_body_without_events_that_is_no_json_object_is_a_stream_cut_short(
    gateway, upstream, body
):
    upstream.post(**as_sse(body))
    response, data, _ = gateway()()
    assert response.status_code == 502
    assert check_error(json.loads(data), 502).code == "upstream_stream_incomplete"


def test_a_cut_json_body_is_a_bad_response_as_without_the_event_stream(gateway, upstream):
    upstream.post(**as_sse(b'{"error": {"message": "cut'))
    response, data, _ = gateway()()
    assert response.status_code == 502
    assert check_error(json.loads(data), 502).code == "upstream_bad_response"


def test_only_a_bounded_body_is_kept(gateway, upstream, monkeypatch):
    monkeypatch.setattr(relay_module, "BODY_BYTES", 100)
    padded = {"error": {**CONTEXT["error"], "message": "x" * 100}}
    upstream.post(**as_sse(json.dumps(padded).encode()))
    response, data, _ = gateway()()
    assert json.loads(data)["error"]["code"] == "upstream_stream_incomplete"


def test_the_relay_hands_the_whole_body_over_however_it_was_read():
    body = json.dumps(CONTEXT, indent=2).encode()
    seen: list[bytes] = []

    def whole(data: bytes) -> list[bytes]:
        seen.append(data)
        return [b"replayed"]

    out = list(relay("up", split_every(body, 7), ModelRewriter("gw"), UpstreamError, whole=whole))
    assert out == [b"replayed"] and json.loads(seen[0]) == CONTEXT
    with pytest.raises(UpstreamError, match="before it was complete"):
        list(relay("up", split_every(body, 7), ModelRewriter("gw"), UpstreamError))


def test_the_relay_keeps_nothing_once_events_come():
    kept: list[bytes] = []
    body = sse_body(stream_chunks("a"), done=False) + b'{"error": "after the events"}'
    with pytest.raises(UpstreamError, match="before it was complete"):
        list(relay("up", [body], ModelRewriter("gw"), UpstreamError, whole=kept.append))
    assert kept == []
