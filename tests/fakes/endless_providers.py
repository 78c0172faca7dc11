"""Anthropic and Gemini wire formats for the endless fake (tests/fakes/endless_stream.py).

Requests are checked as the real APIs would (key, version, body shape, streaming asked for):
a gateway that sent a malformed request gets a 400, not a stream. The events are the
documented ones (tests/fakes/anthropic_wire.py, tests/fakes/gemini.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.fakes import anthropic_wire, gemini
from tests.fakes.anthropic_checks import check_body
from tests.fakes.gemini_checks import BadRequest, check_request

ANTHROPIC_KEY = "sk-ant-endless-fake-key"
GEMINI_KEY = "AIzaEndlessFakeGeminiKey0123456"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(b["text"] for b in content if b.get("type", "text") == "text" and "text" in b)


def anthropic_problem(headers: Mapping[str, str], body: Any) -> str | None:
    """An Anthropic error body for a request the real API would refuse, else None."""
    if headers.get("x-api-key") != ANTHROPIC_KEY:
        problem: str | None = "invalid x-api-key"
    elif not headers.get("anthropic-version"):
        problem = "anthropic-version: header is required"
    else:
        problem = check_body(body)
        if problem is None and body.get("stream") is not True:
            problem = "stream: this fake only streams"
    if problem is None:
        return None
    return json.dumps(anthropic_wire.error_body("invalid_request_error", problem))


def anthropic_name(body: dict[str, Any]) -> str:
    """The stream's name: the text of the last user message."""
    turn = [m for m in body["messages"] if m["role"] == "user"][-1]
    return _text(turn["content"])


def anthropic_opening(model: str) -> bytes:
    """What a stream starts with: `message_start`, a text block's start and a `ping`."""
    start = anthropic_wire.start(model=model)
    return anthropic_wire.sse(start, anthropic_wire.text_block(0), anthropic_wire.PING)


# What a stream sends while its model thinks (thinking deltas are also not shown to clients).
ANTHROPIC_PING = anthropic_wire.sse(anthropic_wire.PING)


def anthropic_delta(number: int) -> bytes:
    """The `number`th `content_block_delta` (a `text_delta`) of the text block."""
    return anthropic_wire.sse(anthropic_wire.text(0, f" word{number}"))


def gemini_problem(
    headers: Mapping[str, str], target: str, args: Mapping[str, str], body: Any
) -> str | None:
    """A google.rpc error body for a request the real API would refuse, else None."""
    problem = None
    if "key" in args or headers.get("x-goog-api-key") != GEMINI_KEY:
        problem = "API key not valid (or sent in the URL)."
    elif not target.endswith(":streamGenerateContent") or args.get("alt") != "sse":
        problem = f"this fake only streams with alt=sse, not {target} {dict(args)}"
    else:
        try:
            check_request(body)
        except BadRequest as exc:
            problem = str(exc)
    if problem is None:
        return None
    return json.dumps(gemini.error_body(400, "INVALID_ARGUMENT", problem))


def gemini_name(body: dict[str, Any]) -> str:
    """The stream's name: the text of the last user turn."""
    turn = [c for c in body["contents"] if c.get("role", "user") == "user"][-1]
    return " ".join(p["text"] for p in turn["parts"] if "text" in p)


def gemini_delta(number: int) -> bytes:
    """The `number`th event: a GenerateContentResponse with one unfinished text piece."""
    piece = gemini.candidate([{"text": f" word{number}"}], finish=None)
    return gemini.sse(gemini.response([piece]))
