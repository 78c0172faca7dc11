"""The chat-to-legacy conversion with any chat backend: raw SSE relays, errors, closing."""

from __future__ import annotations

import json

import pytest

from app.backends import Backend, Call, Stream, shaping
from app.backends.base import Result
from app.errors import UpstreamError
from app.routing import Route
from app.services.legacy import completion_via_chat

ROUTE = Route("fake", "fake", "fake-model")


def _chat_chunk(index: int, delta: dict, reason: str | None = None) -> dict:
    choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [choice],
    }


def _encoded(chunk: dict) -> bytes:
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


class RawChat(Backend):
    """A chat backend streaming raw SSE bytes cut at arbitrary places, or chunk dicts."""

    def __init__(self, events: list[bytes | dict], answer: dict | None = None) -> None:
        super().__init__("raw", {}, {})
        self.events, self.answer = events, answer
        self.closed = 0
        self.bodies: list[dict] = []

    def chat(self, call: Call) -> Result:
        self.bodies.append(call.body)
        if not call.body.get("stream"):
            return self.answer

        def close() -> None:
            self.closed += 1

        return Stream(iter(self.events), close=close, append_done=False)


def _call(**body) -> Call:
    return Call({"model": "client-model", **body}, ROUTE, "sk-client", "req-1")


def test_raw_sse_chat_streams_are_translated():
    data = b"".join(
        [
            _encoded(_chat_chunk(0, {"role": "assistant", "content": ""})),
            _encoded(_chat_chunk(0, {"content": "Hel"})),
            _encoded(_chat_chunk(0, {"content": "lo"})),
            _encoded(_chat_chunk(0, {}, "tool_calls")),
            b"data: [DONE]\n\n",
        ]
    )
    backend = RawChat([data[:30], data[30:101], data[101:]])
    stream = completion_via_chat(backend, _call(prompt=["a", "b"], stream=True, top_k=4))
    chunks = list(stream.events)
    texts = [(c["choices"][0]["index"], c["choices"][0]["text"]) for c in chunks]
    assert texts == [(0, "Hel"), (0, "lo"), (0, ""), (1, "Hel"), (1, "lo"), (1, "")]
    assert chunks[2]["choices"][0]["finish_reason"] == "stop"
    assert {c["model"] for c in chunks} == {"client-model"}
    assert backend.closed == 2
    sent = backend.bodies[0]
    assert sent["messages"] == [{"role": "user", "content": "a"}]
    assert sent["max_tokens"] == 16 and sent["top_k"] == 4 and "prompt" not in sent


def test_error_event_in_a_raw_stream_becomes_an_api_error():
    error = {"error": {"message": "overloaded", "type": "server_error", "code": None}}
    backend = RawChat([_encoded(_chat_chunk(0, {"content": "x"})), _encoded(error)])
    stream = completion_via_chat(backend, _call(prompt="a", stream=True))
    events = iter(stream.events)
    assert next(events)["choices"][0]["text"] == "x"
    with pytest.raises(UpstreamError, match="overloaded"):
        next(events)


def test_closing_the_legacy_stream_closes_the_chat_stream():
    backend = RawChat([_encoded(_chat_chunk(0, {"content": "x"}))])
    stream = completion_via_chat(backend, _call(prompt="a", stream=True))
    stream.close()
    assert backend.closed == 1


def test_missing_chat_usage_is_counted_locally():
    answer = {
        "id": "c",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "two words"},
                "logprobs": None,
                "finish_reason": "content_filter",
            }
        ],
    }
    body = completion_via_chat(RawChat([], answer), _call(prompt="three little words"))
    assert body["choices"][0]["finish_reason"] == "content_filter"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


# -- usage a provider reports is what it bills: kept, unless the backend counts it itself --

BILLED = {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}


def _answer(usage: dict) -> dict:
    message = {"role": "assistant", "content": "two words"}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
    answer = {"id": "c", "object": "chat.completion", "created": 1, "model": "m"}
    return {**answer, "choices": [choice], "usage": usage}


def _usage_stream() -> list[bytes]:
    usage_chunk = {**_chat_chunk(0, {}), "choices": [], "usage": BILLED}
    return [_encoded(_chat_chunk(0, {"content": "two words"}, "stop")), _encoded(usage_chunk)]


def _streamed_usage(backend: RawChat, **options) -> dict:
    call = _call(prompt=["a", "b"], stream=True, stream_options={"include_usage": True})
    return list(completion_via_chat(backend, call, **options).events)[-1]["usage"]


def test_provider_reported_usage_is_kept():
    body = completion_via_chat(RawChat([], _answer(BILLED)), _call(prompt=["a", "b"], n=2))
    assert body["usage"] == {"prompt_tokens": 22, "completion_tokens": 4, "total_tokens": 26}
    streamed = _streamed_usage(RawChat(_usage_stream()))
    assert streamed == {"prompt_tokens": 22, "completion_tokens": 4, "total_tokens": 26}


def test_usage_the_gateway_counted_has_each_prompt_counted_as_its_own_text():
    counted = shaping.counted_usage(BILLED["prompt_tokens"], BILLED["completion_tokens"])
    call = _call(prompt=["three little words", "a"], n=2)
    body = completion_via_chat(RawChat([], _answer(counted)), call)
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}
    chunks = [_chat_chunk(0, {"content": "two words"}, "stop")]
    chunks.append({**_chat_chunk(0, {}), "choices": [], "usage": counted})
    streamed = _streamed_usage(RawChat(chunks))
    assert streamed == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}


def test_counted_usage_is_sent_as_any_usage_object():
    counted = shaping.counted_usage(3, 4)
    assert counted == shaping.usage(3, 4)
    assert json.loads(json.dumps({"usage": counted})) == {"usage": shaping.usage(3, 4)}
