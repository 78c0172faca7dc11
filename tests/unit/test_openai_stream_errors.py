"""Error events of `openai` streams in the shapes upstreams send besides `{"error": ...}` first."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.openai_checks import check_error
from tests.support.openai_upstream import (
    CHAT_URL,
    SERVER_KEY,
    StreamGateway,
    chunk,
    sse_body,
    sse_payloads,
    stream_chunks,
)

# OpenRouter: a regular chunk with an `error` object, and finish_reason "error".
OPENROUTER = {
    **chunk({"content": ""}, "error"),
    "error": {"code": "server_error", "message": f"Provider disconnected (key {SERVER_KEY})"},
}
# vLLM's older streams: the error's fields at the top level, `object` set to "error".
VLLM = {
    "object": "error",
    "message": f"CUDA out of memory (key {SERVER_KEY})",
    "type": "InternalServerError",
    "param": None,
    "code": 500,
}


@pytest.fixture
def gateway(monkeypatch) -> Callable[..., StreamGateway]:
    """A factory of gateways, given models."""
    return functools.partial(StreamGateway, monkeypatch)


def sse(events: list[Any], done: bool = True) -> dict[str, Any]:
    """`responses` arguments for an SSE answer."""
    return {"body": sse_body(events, done=done), "content_type": "text/event-stream"}


@pytest.mark.parametrize(("error", "message"), [(OPENROUTER, "Provider"), (VLLM, "CUDA")])
def test_an_error_event_midway_ends_the_stream_scrubbed(gateway, upstream, error, message):
    events = stream_chunks("Hel")[:2]
    upstream.post(CHAT_URL, **sse([*events, error, *stream_chunks("lo")[1:]]))
    response, body, exchange = gateway()()
    assert response.status_code == 200
    *chunks, last = sse_payloads(body)
    assert chunks == [{**e, "model": "gw"} for e in events]
    fields = check_error(last)
    assert fields.message.startswith(message) and "(key ***)" in fields.message
    assert fields.type == "server_error"
    assert SERVER_KEY not in body.decode()
    assert exchange.stream_error == "server_error"


def test_an_error_event_with_bad_utf8_is_still_an_error(gateway, upstream):
    events = stream_chunks("Hel")[:2]
    error = b'{"id":"x","error":{"message":"overloaded \xff","type":"server_error"}}'
    body = sse_body(events, done=False) + b"data: " + error + b"\n\n"
    upstream.post(CHAT_URL, body=body, content_type="text/event-stream")
    response, relayed, exchange = gateway()()
    *chunks, last = sse_payloads(relayed)
    assert chunks == [{**e, "model": "gw"} for e in events]
    assert check_error(last).message.startswith("overloaded")
    assert exchange.stream_error == "server_error"


@pytest.mark.parametrize("error", [OPENROUTER, VLLM])
def test_an_error_as_first_event_is_an_http_error(gateway, upstream, error):
    upstream.post(CHAT_URL, **sse([error]))
    response, body, _ = gateway()()
    assert response.status_code == 502
    assert SERVER_KEY not in body.decode()
    check_error(json.loads(body), 502)


@pytest.mark.parametrize("error", [OPENROUTER, VLLM])
def test_an_error_as_first_event_is_retried(gateway, upstream, error):
    upstream.post(CHAT_URL, **sse([error]))
    upstream.post(CHAT_URL, **sse(stream_chunks("ok")))
    post = gateway([{"id": "gw", "backend": "up", "model": "real-model", "retries": 1}])
    response, body, _ = post()
    assert response.status_code == 200
    assert [p["choices"][0]["delta"].get("content") for p in sse_payloads(body)[:-1]][1] == "ok"
    assert len(upstream.calls) == 2


def test_an_error_as_first_event_goes_to_the_fallback(gateway, upstream):
    upstream.post(CHAT_URL, **sse([VLLM]))
    upstream.post(CHAT_URL, **sse(stream_chunks("ok")))
    post = gateway(
        [
            {"id": "gw", "backend": "up", "model": "real-model", "fallbacks": ["other"]},
            {"id": "other", "backend": "up", "model": "other-model"},
        ]
    )
    response, body, _ = post()
    assert response.status_code == 200
    assert json.loads(upstream.calls[1].request.body)["model"] == "other-model"
    assert sse_payloads(body)[-1] == "[DONE]"


@pytest.mark.parametrize(
    "event",
    [
        {**chunk({"content": "x"}), "error": None},
        {**chunk({"content": "x"}), "error": {}},
        {**chunk({"content": "x"}), "error": ""},
        chunk({"content": '{"error": {"message": "no"}, "object": "error"}'}),
        {**chunk({"content": "x"}), "meta": {"object": "error", "error": "nested"}},
        chunk({"content": "x"}, "error"),
    ],
)
def test_events_that_only_mention_error_are_relayed(gateway, upstream, event):
    upstream.post(CHAT_URL, **sse([event]))
    response, body, exchange = gateway()()
    assert response.status_code == 200
    assert sse_payloads(body) == [{**event, "model": "gw"}, "[DONE]"]
    assert exchange.stream_error is None
