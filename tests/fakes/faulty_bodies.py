"""Bodies the faulty upstream sends: OpenAI answers, stream events and error objects, as bytes."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}
REASONS = {status.value: status.phrase for status in HTTPStatus}
# The text of every healthy answer; invalid UTF-8 is spliced in by byte replacement.
TEXT = "Hello from the faulty upstream."
_MARK = b"@@TEXT@@"


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def completion(model: str, text: bytes | None = None) -> bytes:
    """A `chat.completion` whose message content is `text` (raw bytes, possibly not UTF-8)."""
    body = _dump(
        {
            "id": "chatcmpl-faulty",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": _MARK.decode(), "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
        }
    )
    return body.replace(_MARK, text if text is not None else TEXT.encode())


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-faulty",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def events(model: str, text: bytes | None = None) -> list[bytes]:
    """The SSE events of a healthy chat stream: role, content, finish, then `[DONE]`."""
    chunks = [
        _chunk(model, {"role": "assistant", "content": ""}, None),
        _chunk(model, {"content": _MARK.decode()}, None),
        _chunk(model, {}, "stop"),
    ]
    out = [b"data: " + _dump(c) + b"\n\n" for c in chunks]
    out[1] = out[1].replace(_MARK, text if text is not None else TEXT.encode())
    return [*out, DONE]


def error(status: int, message: str) -> bytes:
    """An OpenAI error object for `status`."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
    if status == 429:
        kind = "requests"
    return _dump({"error": {"message": message, "type": kind, "param": None, "code": code}})


def status_message(status: int, token: str) -> str:
    """The message of an error answer; a 401 echoes the key it was sent, unmasked."""
    if status == 401:
        return f"Incorrect API key provided: {token}. You can find your API key in your account."
    if status == 400:
        return f"The request was rejected by the upstream (sent with key {token})."
    return f"Upstream failure {status}."


def huge_parts(model: str, stream: bool) -> tuple[bytes, bytes]:
    """The start and end around the filler of a huge answer (one huge string)."""
    whole = completion(model, _MARK) if not stream else events(model, _MARK)[1]
    start, _, end = whole.partition(_MARK)
    return start, end
