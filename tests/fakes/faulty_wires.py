"""Gemini and Anthropic bodies for the faulty upstream, as bytes (OpenAI's are in faulty_bodies).

Each wire offers what `faulty_bodies` offers for OpenAI: `completion`, `events` (the text in
the second event), `error` and `huge_parts`, so that every fault can speak every wire.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.faulty_bodies import TEXT

_MARK = b"@@TEXT@@"


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _text(body: bytes, text: bytes | None) -> bytes:
    return body.replace(_MARK, text if text is not None else TEXT.encode())


class GeminiWire:
    """`generateContent` answers and `streamGenerateContent?alt=sse` events."""

    # google.rpc status of each HTTP status, as the Generative Language API reports them.
    STATUSES = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }

    @staticmethod
    def completion(model: str, text: bytes | None = None) -> bytes:
        candidate = {
            "content": {"role": "model", "parts": [{"text": _MARK.decode()}]},
            "finishReason": "STOP",
            "index": 0,
        }
        usage = {"promptTokenCount": 5, "candidatesTokenCount": 6, "totalTokenCount": 11}
        body = {"candidates": [candidate], "usageMetadata": usage, "modelVersion": model}
        return _text(_dump(body), text)

    @staticmethod
    def events(model: str, text: bytes | None = None) -> list[bytes]:
        def event(parts: list[dict[str, Any]], **extra: Any) -> bytes:
            candidate = {"content": {"role": "model", "parts": parts}, "index": 0, **extra}
            return (
                b"data: " + _dump({"candidates": [candidate], "modelVersion": model}) + b"\r\n\r\n"
            )

        return [
            event([{"text": ""}]),
            _text(event([{"text": _MARK.decode()}]), text),
            event([{"text": ""}], finishReason="STOP"),
        ]

    @classmethod
    def error(cls, status: int, message: str) -> bytes:
        rpc = cls.STATUSES.get(status, "UNKNOWN")
        return _dump({"error": {"code": status, "message": message, "status": rpc}})

    @classmethod
    def huge_parts(cls, model: str, stream: bool) -> tuple[bytes, bytes]:
        whole = cls.completion(model, _MARK) if not stream else cls.events(model, _MARK)[1]
        start, _, end = whole.partition(_MARK)
        return start, end


class AnthropicWire:
    """Messages API answers and their `event:` / `data:` stream."""

    # The error type Anthropic documents for each HTTP status.
    TYPES = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        500: "api_error",
        504: "timeout_error",
        529: "overloaded_error",
    }

    @staticmethod
    def completion(model: str, text: bytes | None = None) -> bytes:
        body = {
            "id": "msg_faulty",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": _MARK.decode()}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 6},
        }
        return _text(_dump(body), text)

    @staticmethod
    def events(model: str, text: bytes | None = None) -> list[bytes]:
        def event(payload: dict[str, Any]) -> bytes:
            return f"event: {payload['type']}\n".encode() + b"data: " + _dump(payload) + b"\n\n"

        message = {
            "id": "msg_faulty",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        }
        block = {"type": "text", "text": _MARK.decode()}
        return [
            event({"type": "message_start", "message": message}),
            _text(event({"type": "content_block_start", "index": 0, "content_block": block}), text),
            event({"type": "content_block_stop", "index": 0}),
            event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": 6},
                }
            ),
            event({"type": "message_stop"}),
        ]

    @classmethod
    def error(cls, status: int, message: str) -> bytes:
        kind = cls.TYPES.get(status, "api_error")
        return _dump({"type": "error", "error": {"type": kind, "message": message}})

    @classmethod
    def huge_parts(cls, model: str, stream: bool) -> tuple[bytes, bytes]:
        whole = cls.completion(model, _MARK) if not stream else cls.events(model, _MARK)[1]
        start, _, end = whole.partition(_MARK)
        return start, end
