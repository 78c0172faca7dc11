"""A complete answer to a stream request (an upstream that ignored `stream`) reaches the client
as the stream OpenAI would have sent: chunks, usage when asked, `[DONE]`."""

from __future__ import annotations

import json

import pytest

from app.backends.openai.usage import counted_usage
from tests.support.openai_checks import check_chat_sse, check_completion_sse, check_error
from tests.support.openai_upstream import (
    CHAT_URL,
    UPSTREAM,
    chat_body,
    completion,
    make_app,
)

USAGE = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
TOOL_CALL = {
    "id": "call_up1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}


@pytest.fixture
def client(monkeypatch):
    return make_app(monkeypatch).test_client()


def events_of(response) -> list[str]:
    """The `data:` payloads of a gateway stream, each as its JSON text (or `[DONE]`)."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/event-stream"
    text = response.get_data(as_text=True)
    return [block.removeprefix("data: ") for block in text.split("\n\n") if block]


def test_a_chat_answer_is_replayed_as_its_stream(client, upstream):
    answer = completion("Hello there!", system_fingerprint="fp_up", service_tier="default")
    upstream.post(CHAT_URL, json={**answer, "usage": USAGE})
    request = chat_body(stream=True)
    events = events_of(client.post("/v1/chat/completions", json=request))
    assembled = check_chat_sse(events, request)
    assert assembled["choices"][0]["message"]["content"] == "Hello there!"
    assert assembled["choices"][0]["finish_reason"] == "stop"
    chunks = [json.loads(event) for event in events[:-1]]
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "Hello there!"},
        {},
    ]
    for chunk in chunks:
        # The client's model name, the answer's own id, time and fingerprint; no usage key.
        assert (chunk["model"], chunk["id"]) == ("gw", "chatcmpl-up1")
        assert chunk["created"] == 1700000000
        assert (chunk["system_fingerprint"], chunk["service_tier"]) == ("fp_up", "default")
        assert "usage" not in chunk


def test_usage_is_the_upstreams_in_a_last_chunk_when_asked(client, upstream):
    upstream.post(CHAT_URL, json={**completion("Hi"), "usage": USAGE})
    request = chat_body(stream=True, stream_options={"include_usage": True})
    events = events_of(client.post("/v1/chat/completions", json=request))
    check_chat_sse(events, request)
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == USAGE
    assert chunks[-1]["id"] == "chatcmpl-up1"
    assert all(chunk["usage"] is None for chunk in chunks[:-1])


def test_usage_the_upstream_left_out_is_counted(client, upstream):
    answer = completion("Hello there, friend!")
    del answer["usage"]
    upstream.post(CHAT_URL, json=answer)
    request = chat_body(stream=True, stream_options={"include_usage": True})
    events = events_of(client.post("/v1/chat/completions", json=request))
    usage = json.loads(events[-2])["usage"]
    assert usage == counted_usage("chat", request, "real-model", ["Hello there, friend!"])
    assert usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 0


def test_tool_calls_and_several_choices_are_replayed(client, upstream):
    tools_choice = {
        "index": 1,
        "message": {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL, TOOL_CALL]},
        "finish_reason": "tool_calls",
    }
    answer = completion("Let me look.")
    answer["choices"].append(tools_choice)
    upstream.post(CHAT_URL, json=answer)
    request = chat_body(stream=True, n=2)
    assembled = check_chat_sse(events_of(client.post("/v1/chat/completions", json=request)))
    first, second = assembled["choices"]
    assert first["message"]["content"] == "Let me look." and first["finish_reason"] == "stop"
    assert second["finish_reason"] == "tool_calls"
    assert second["message"]["tool_calls"] == [TOOL_CALL, TOOL_CALL]


def test_a_refusal_is_replayed(client, upstream):
    answer = completion("")
    answer["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": "No."}
    upstream.post(CHAT_URL, json=answer)
    response = client.post("/v1/chat/completions", json=chat_body(stream=True))
    assembled = check_chat_sse(events_of(response))
    assert assembled["choices"][0]["message"]["refusal"] == "No."


def test_a_legacy_completion_is_replayed_as_its_stream(client, upstream):
    answer = {
        "id": "cmpl-up1",
        "object": "text_completion",
        "created": 1700000000,
        "model": "real-model",
        "choices": [{"text": "Once upon", "index": 0, "logprobs": None, "finish_reason": "length"}],
        "usage": USAGE,
    }
    upstream.post(UPSTREAM + "/completions", json=answer)
    request = {
        "model": "gw",
        "prompt": "Tell a story",
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    events = events_of(client.post("/v1/completions", json=request))
    check_completion_sse(events, request)
    chunks = [json.loads(event) for event in events[:-1]]
    assert [c["choices"] for c in chunks] == [
        [{"text": "Once upon", "index": 0, "logprobs": None, "finish_reason": "length"}],
        [],
    ]
    assert chunks[-1]["usage"] == USAGE
    assert {(c["id"], c["model"], c["object"]) for c in chunks} == {
        ("cmpl-up1", "gw", "text_completion")
    }


@pytest.mark.parametrize(
    "choices",
    [
        [],
        [5],
        [{"message": "hi"}],
        [{"index": "first", "message": {"content": "hi"}}],
        [{"index": 0, "text": "a legacy choice", "finish_reason": "stop"}],
        [{"index": 0, "delta": {"content": "a chunk's choice"}, "finish_reason": None}],
        [{"index": 0, "message": {"content": {"text": "hi"}}}],
        [{"index": 0, "message": {"content": "hi"}, "finish_reason": 3}],
    ],
    ids=[
        "no-choices",
        "not-an-object",
        "message-not-an-object",
        "bad-index",
        "legacy-choice",
        "chunk-choice",
        "content-object",
        "numeric-finish",
    ],
)
def test_a_malformed_answer_is_a_502_before_any_byte(client, upstream, choices):
    upstream.post(CHAT_URL, json={**completion("x"), "choices": choices})
    response = client.post("/v1/chat/completions", json=chat_body(stream=True))
    error = check_error(response.get_json(), 502)
    assert error.code == "upstream_bad_response"


def test_content_parts_and_custom_tool_calls_are_replayed(client, upstream):
    custom = {"id": "call_c", "type": "custom", "custom": {"name": "grep", "input": "foo"}}
    answer = completion("")
    answer["choices"][0]["message"] = {
        "role": "assistant",
        "content": [{"type": "text", "text": "Found "}, {"type": "text", "text": "it."}],
        "tool_calls": [TOOL_CALL, custom],
    }
    upstream.post(CHAT_URL, json=answer)
    response = client.post("/v1/chat/completions", json=chat_body(stream=True))
    chunks = [json.loads(event) for event in events_of(response)[:-1]]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert {"content": "Found it."} in deltas
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls == [
        {"index": 0, **TOOL_CALL},
        {"index": 1, **custom},
    ]
