"""Canned OpenAI answers for the benchmark's fake upstream, encoded once as raw HTTP bytes."""

from __future__ import annotations

import json

MODEL = "gpt-4o-mini"
_WORDS = "The quick brown fox jumps over the lazy dog while the gateway relays every token. "


def completion_body() -> bytes:
    """A realistic ~1 KB chat.completion, as OpenAI sends it."""
    text = (_WORDS * 8).strip()
    body = {
        "id": "chatcmpl-BENCH0123456789abcdefghijklmn",
        "object": "chat.completion",
        "created": 1767225600,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 27,
            "completion_tokens": 120,
            "total_tokens": 147,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_bench",
    }
    return json.dumps(body, separators=(",", ":")).encode()


def stream_events(count: int) -> list[bytes]:
    """The `count` SSE events of one stream (role first, `stop` last), each a chunked frame."""
    frames = []
    for index in range(count):
        if index == 0:
            delta, finish = {"role": "assistant", "content": "", "refusal": None}, None
        elif index == count - 1:
            delta, finish = {}, "stop"
        else:
            delta, finish = {"content": _WORDS.split()[index % 14] + " "}, None
        chunk = {
            "id": "chatcmpl-BENCH0123456789abcdefghijklmn",
            "object": "chat.completion.chunk",
            "created": 1767225600,
            "model": MODEL,
            "service_tier": "default",
            "system_fingerprint": "fp_bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        event = b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
        if index == count - 1:
            event += b"data: [DONE]\n\n"
        frames.append(b"%x\r\n%s\r\n" % (len(event), event))
    frames[-1] += b"0\r\n\r\n"
    return frames


def response(status: str, content_type: str, body: bytes) -> bytes:
    """A whole keep-alive HTTP response."""
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    b"Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n"
)
NOT_FOUND = response(
    "404 Not Found",
    "application/json",
    b'{"error":{"message":"not found","type":"invalid_request_error","param":null,'
    b'"code":"unknown_url"}}',
)
