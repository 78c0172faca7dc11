"""Anthropic Messages API payloads as documented, for the fake server and the unit tests."""

from __future__ import annotations

import json
from typing import Any

MESSAGE_ID = "msg_013Zva2CMHLNnXjNJJKqJ2EF"


def gateway_models(base_url: str, key_env: str, retries: int = 0, **options: Any) -> dict:
    """A models file with one Anthropic backend `claude`, the preset's routes and `claude-*`."""
    backend = {"type": "anthropic", "api_key_env": key_env, "base_url": base_url, **options}
    routes = [
        {"id": "claude-3-haiku", "model": "claude-3-haiku-20240307"},
        {"id": "claude-3-opus", "model": "claude-3-opus-20240229"},
        {"id": "claude-*"},
    ]
    models = [{**route, "backend": "claude", "retries": retries} for route in routes]
    return {"backends": {"claude": backend}, "models": models}


def message(
    content: list[dict[str, Any]],
    stop_reason: str | None = "end_turn",
    model: str = "claude-3-haiku-20240307",
    stop_sequence: str | None = None,
    **usage: int,
) -> dict[str, Any]:
    """A complete Message, as `POST /v1/messages` answers without streaming."""
    return {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": {"input_tokens": 2095, "output_tokens": 503, **usage},
    }


def error_body(kind: str, message_text: str) -> dict[str, Any]:
    """An error response body."""
    return {
        "type": "error",
        "error": {"type": kind, "message": message_text},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }


def sse(*events: dict[str, Any], eol: str = "\n") -> bytes:
    """Events on the wire: `event: <type>` and `data: <json>` lines, a blank line after each."""
    out = ""
    for event in events:
        data = json.dumps(event, ensure_ascii=False)
        out += f"event: {event['type']}{eol}data: {data}{eol}{eol}"
    return out.encode()


def start(input_tokens: int = 25, model: str = "claude-3-haiku-20240307", **usage: int) -> dict:
    """`message_start`: the Message with empty content and the input token count."""
    body = message([], None, model, input_tokens=input_tokens, output_tokens=1, **usage)
    body["id"] = "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
    return {"type": "message_start", "message": body}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    """`content_block_start`."""
    return {"type": "content_block_start", "index": index, "content_block": block}


def text_block(index: int) -> dict[str, Any]:
    """`content_block_start` of a text block."""
    return block_start(index, {"type": "text", "text": ""})


def tool_block(index: int, call_id: str, name: str) -> dict[str, Any]:
    """`content_block_start` of a tool_use block."""
    return block_start(index, {"type": "tool_use", "id": call_id, "name": name, "input": {}})


def text(index: int, value: str) -> dict[str, Any]:
    """`content_block_delta` with a `text_delta`."""
    delta = {"type": "text_delta", "text": value}
    return {"type": "content_block_delta", "index": index, "delta": delta}


def partial_json(index: int, value: str) -> dict[str, Any]:
    """`content_block_delta` with an `input_json_delta`."""
    delta = {"type": "input_json_delta", "partial_json": value}
    return {"type": "content_block_delta", "index": index, "delta": delta}


def thinking(index: int, value: str) -> dict[str, Any]:
    """`content_block_delta` with a `thinking_delta`."""
    delta = {"type": "thinking_delta", "thinking": value}
    return {"type": "content_block_delta", "index": index, "delta": delta}


def signature(index: int, value: str) -> dict[str, Any]:
    """`content_block_delta` with a `signature_delta`, sent just before the block stops."""
    delta = {"type": "signature_delta", "signature": value}
    return {"type": "content_block_delta", "index": index, "delta": delta}


def block_stop(index: int) -> dict[str, Any]:
    """`content_block_stop`."""
    return {"type": "content_block_stop", "index": index}


def end(
    stop_reason: str, output_tokens: int = 15, stop_sequence: str | None = None, **usage: Any
) -> list:
    """`message_delta` with the stop reason and output tokens (and any other `usage`), then
    `message_stop`."""
    delta = {"stop_reason": stop_reason, "stop_sequence": stop_sequence}
    counts = {"output_tokens": output_tokens, **usage}
    return [
        {"type": "message_delta", "delta": delta, "usage": counts},
        {"type": "message_stop"},
    ]


PING = {"type": "ping"}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

# The documented streams: text (with a ping, multi-byte characters), then text + parallel tools.
TEXT_EVENTS = [
    start(),
    text_block(0),
    PING,
    text(0, "Héllo"),
    text(0, " wörld 👋 — ok"),
    block_stop(0),
    *end("end_turn"),
]
TOOL_EVENTS = [
    start(472),
    text_block(0),
    text(0, "Okay, let's check"),
    block_stop(0),
    tool_block(1, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
    partial_json(1, ""),
    partial_json(1, '{"location":'),
    PING,
    partial_json(1, ' "San Francisco, CA", "unit": "°F"}'),
    block_stop(1),
    tool_block(2, "toolu_02", "get_time"),
    block_stop(2),
    *end("tool_use", 89),
]
