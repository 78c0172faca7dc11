"""The t3chat backend through the gateway: credentials, both formats, streaming, every failure."""

from __future__ import annotations

import json

import pytest
import responses

from app.tokens import count_messages, count_text
from tests.fakes.t3chat import (
    COOKIES,
    RECORDED_DATA_STREAM,
    RECORDED_SSE,
    RECORDED_TEXT,
    SESSION_ID,
    SlowBody,
    split_line,
)
from tests.support import t3chat_fakes
from tests.support.t3chat_fakes import AUTH, MESSAGES, UPSTREAM, chat, sse_payloads

# The shared fixtures, bound here so that pytest finds them.
config = t3chat_fakes.config
upstream = t3chat_fakes.upstream

RECORDINGS = pytest.mark.parametrize(
    "raw", [RECORDED_DATA_STREAM, RECORDED_SSE], ids=["data-stream", "sse"]
)


def sent_body(upstream) -> dict:
    return json.loads(upstream.calls[-1].request.body)


@RECORDINGS
def test_completion_with_key_credentials(client, upstream, raw):
    upstream.add(responses.POST, UPSTREAM, body=raw, content_type="text/plain")
    response = chat(client)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o"
    assert "system_fingerprint" not in body
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": RECORDED_TEXT, "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    usage = body["usage"]
    assert usage["prompt_tokens"] == count_messages(MESSAGES, "gemini-2.5-flash")
    assert usage["completion_tokens"] == count_text(RECORDED_TEXT, "gemini-2.5-flash")
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    request = upstream.calls[-1].request
    assert request.headers["Cookie"] == COOKIES
    assert request.headers["Origin"] == "https://t3.test"
    sent = sent_body(upstream)
    assert sent["convexSessionId"] == SESSION_ID and sent["model"] == "gemini-2.5-flash"
    assert [m["role"] for m in sent["messages"]] == ["user"]
    assert sent["messages"][0]["parts"][0]["text"].endswith(
        "Be kind.\n[End of system instructions]\n\nHi"
    )


def test_server_side_credentials_win(config, upstream):
    from app import create_app

    config.update(T3_COOKIES="srv=cookie-12345", T3_CONVEX_SESSION_ID="srv-session-1")
    client = create_app(config).test_client()
    upstream.add(responses.POST, UPSTREAM, body=RECORDED_DATA_STREAM)
    assert chat(client, headers={"Authorization": "Bearer anything"}).status_code == 200
    assert upstream.calls[-1].request.headers["Cookie"] == "srv=cookie-12345"
    assert sent_body(upstream)["convexSessionId"] == "srv-session-1"


def test_missing_credentials_are_a_401_without_calling_upstream(client, upstream):
    response = chat(client, headers={})
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert "COOKIES" in error["message"] and "<cookies>:<convexSessionId>" in error["message"]
    assert error["type"] == "invalid_request_error"
    assert len(upstream.calls) == 0


def test_pattern_route_passes_the_model_through(client, upstream):
    upstream.add(responses.POST, UPSTREAM, body=RECORDED_DATA_STREAM)
    response = chat(client, model="kimi-k2")
    assert response.get_json()["model"] == "kimi-k2"
    assert sent_body(upstream)["model"] == "kimi-k2"


@RECORDINGS
def test_stream_chunks(client, upstream, raw):
    upstream.add(responses.POST, UPSTREAM, body=raw, content_type="text/event-stream")
    response = chat(client, stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    payloads = sse_payloads(response)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
    assert contents == ["Hello", ", wörld", " 👋\n"]
    assert chunks[-2]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == count_text(RECORDED_TEXT, "gemini-2.5-flash")


@RECORDINGS
def test_stream_is_incremental_and_keeps_split_characters_whole(config, upstream, raw):
    from app import create_app

    # Every line arrives in two reads, cut inside its multi-byte character when it has one.
    pieces = [half for line in raw.splitlines(keepends=True) for half in split_line(line) if half]
    assert any(b"\xf0" in piece and b"\x9f\x91\x8b" not in piece for piece in pieces)
    body = SlowBody(pieces)
    upstream.add(responses.POST, UPSTREAM, body=body)
    response = (
        create_app(config)
        .test_client()
        .post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": MESSAGES, "stream": True},
            headers=AUTH,
            buffered=False,
        )
    )
    events = iter(response.response)
    texts, reads_at_first_text = [], None
    for event in events:
        if b'"content":"Hello"' in event:
            reads_at_first_text = body.reads
        if b'"content"' in event:
            texts.append(
                json.loads(event.removeprefix(b"data: "))["choices"][0]["delta"]["content"]
            )
    response.close()
    assert "".join(texts) == RECORDED_TEXT
    # The first text went out while most of the upstream body was still unread.
    assert reads_at_first_text is not None and reads_at_first_text < len(pieces) // 2


def test_unsupported_requests_are_a_400(client, upstream):
    response = chat(client, tools=[{"type": "function", "function": {"name": "f"}}])
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "tools"
    assert len(upstream.calls) == 0


@pytest.mark.parametrize("stream", [False, True])
def test_legacy_completion_counts_the_prompt_as_text(client, upstream, stream):
    # t3.chat reports no usage: the prompt is counted as /v1/completions bills it, without
    # the chat framing the conversion to a chat message would add.
    upstream.add(responses.POST, UPSTREAM, body=RECORDED_SSE, content_type="text/plain")
    payload = {"model": "gpt-4o", "prompt": "Say hi", "stream": stream}
    if stream:
        payload["stream_options"] = {"include_usage": True}
    response = client.post("/v1/completions", json=payload, headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    if stream:
        usage = json.loads(sse_payloads(response)[-2])["usage"]
    else:
        usage = response.get_json()["usage"]
    assert usage["prompt_tokens"] == count_text("Say hi", "gemini-2.5-flash")
    assert usage["completion_tokens"] == count_text(RECORDED_TEXT, "gemini-2.5-flash")
