"""A fake Anthropic Messages API: checks requests like the real one and answers deterministically.

Behaviour is chosen by the last user turn: tool results are echoed back as text; with tools and
`tool_choice` `tool`/`any` (or `auto` and a tool named in the text) it calls tools with inputs
built from their schemas; with `output_config.format` it answers JSON that fits the schema;
otherwise it greets and echoes the text. Markers in the text trigger failures: `[overloaded]`
(529), `[ratelimit]` (429), `[overloaded-mid]` (an `error` event after some text), `[cut]` (the
stream stops before `message_stop`) and `[refuse]` (a refusal). Breakpoints are counted as
prompt caching counts them (anthropic_caching.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, jsonify, request

from tests.fakes import anthropic_caching as caching
from tests.fakes import anthropic_structured as structured
from tests.fakes import anthropic_thinking as thinking
from tests.fakes import anthropic_wire as wire
from tests.fakes.anthropic_checks import check_body

API_KEY = "sk-ant-fake-0123456789"
REFUSAL = "I can't help with that request."
app = Flask(__name__)
_last: dict[str, Any] = {}


def error(status: int, kind: str, message: str, headers: dict | None = None) -> Response:
    """An Anthropic error response."""
    response = jsonify(wire.error_body(kind, message))
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _words(text: str) -> int:
    return len(re.findall(r"\S+", text))


def _last_user(body: dict[str, Any]) -> dict[str, Any]:
    turn = body["messages"][-1]
    content = turn["content"]
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
    text = " ".join(b["text"] for b in blocks if b["type"] == "text")
    results = [b for b in blocks if b["type"] == "tool_result"]
    return {"role": turn["role"], "text": text, "results": results}


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content", "")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content)
    return content


def _tool_blocks(body: dict[str, Any], text: str) -> list[dict[str, Any]]:
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {"type": "auto"}
    if not tools or choice["type"] == "none":
        return []
    if choice["type"] == "tool":
        chosen = [t for t in tools if t["name"] == choice["name"]]
    elif choice["type"] == "any":
        named = [t for t in tools if t["name"] in text]
        chosen = named or tools[-1:]
    else:
        chosen = [t for t in tools if t["name"] in text]
    if choice.get("disable_parallel_tool_use"):
        chosen = chosen[:1]
    return [
        {
            "type": "tool_use",
            "id": f"toolu_fake{i:02d}",
            "name": tool["name"],
            "input": structured.sample(tool["input_schema"]),
        }
        for i, tool in enumerate(chosen)
    ]


def _answer(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, str | None]:
    """(content blocks, stop_reason, stop_sequence) for a valid request."""
    last = _last_user(body)
    if "[refuse]" in last["text"]:
        return [{"type": "text", "text": REFUSAL}], "refusal", None
    schema = structured.output_schema(body)
    if last["results"]:
        text = "Tool results: " + "; ".join(_result_text(r) for r in last["results"])
    else:
        tools = _tool_blocks(body, last["text"])
        if tools:
            return tools, "tool_use", None
        text = f"Hello from fake Claude ✓ — you said: {last['text']}"
    if schema is not None:
        # JSON outputs: the answer's text is JSON that fits the schema, whatever it was asked.
        text = json.dumps(structured.sample(schema), ensure_ascii=False)
    for stop in body.get("stop_sequences") or []:
        if stop in text:
            return [{"type": "text", "text": text[: text.index(stop)]}], "stop_sequence", stop
    words = text.split(" ")
    if len(words) > body["max_tokens"]:
        return [{"type": "text", "text": " ".join(words[: body["max_tokens"]])}], "max_tokens", None
    return [{"type": "text", "text": text}], "end_turn", None


def _usage(body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    prompt = _words(json.dumps(body.get("system", ""))) + _words(json.dumps(body["messages"]))
    answer = [b for b in blocks if b["type"] not in thinking.THINKING_TYPES]
    output = sum(_words(b.get("text") or json.dumps(b.get("input"))) for b in answer)
    usage: dict[str, Any] = {"input_tokens": prompt, "output_tokens": output}
    usage.update(caching.usage(body) or {})
    thought = thinking.tokens(blocks)
    if thought:
        # Anthropic's output_tokens already count the thinking.
        usage.update(
            output_tokens=output + thought, output_tokens_details={"thinking_tokens": thought}
        )
    return usage


@app.post("/v1/messages")
def create_message() -> Response:
    """POST /v1/messages."""
    if request.headers.get("x-api-key") != API_KEY:
        return error(401, "authentication_error", "invalid x-api-key")
    if not request.headers.get("anthropic-version"):
        return error(400, "invalid_request_error", "anthropic-version: header is required")
    body = request.get_json(silent=True)
    problem = check_body(body)
    if problem:
        return error(400, "invalid_request_error", problem)
    _last.clear()
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "x-api-key"}
    _last.update(body=body, headers=headers)
    text = _last_user(body)["text"]
    if "[overloaded]" in text:
        return error(529, "overloaded_error", "Overloaded")
    if "[ratelimit]" in text:
        return error(429, "rate_limit_error", "Number of requests exceeded.", {"retry-after": "7"})
    blocks, stop_reason, stop_sequence = _answer(body)
    if thinking.thinking_on(body):
        blocks = thinking.blocks(text) + blocks
    usage = _usage(body, blocks)
    if body.get("stream"):
        events = _events(body["model"], blocks, stop_reason, stop_sequence, usage, text)
        return Response(events, mimetype="text/event-stream")
    reply = wire.message(blocks, stop_reason, body["model"], stop_sequence, **usage)
    return jsonify(reply)


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _block_events(index: int, block: dict[str, Any], marker: str) -> Iterator[dict | None]:
    """The events of one content block; None after the marker of a failure."""
    if block["type"] == "redacted_thinking":
        yield wire.block_start(index, block)
        yield wire.block_stop(index)
        return
    if block["type"] == "thinking":
        yield wire.block_start(index, {"type": "thinking", "thinking": ""})
        delta, payload = wire.thinking, block["thinking"]
    elif block["type"] == "text":
        yield wire.text_block(index)
        delta, payload = wire.text, block["text"]
    else:
        yield wire.tool_block(index, block["id"], block["name"])
        delta, payload = wire.partial_json, json.dumps(block["input"])
    if index == 0:
        yield wire.PING
    for n, piece in enumerate(_pieces(payload, 5)):
        yield delta(index, piece)
        if n == 1 and marker in ("[overloaded-mid]", "[cut]"):
            yield wire.OVERLOADED if marker == "[overloaded-mid]" else None
            return
    if block["type"] == "thinking":
        yield wire.signature(index, block["signature"])
    yield wire.block_stop(index)


def _events(model, blocks, stop_reason, stop_sequence, usage, text) -> Iterator[bytes]:
    marker = next((m for m in ("[overloaded-mid]", "[cut]") if m in text), "")
    # message_start and message_delta both carry the input counts (message_delta cumulatively).
    inputs = {k: v for k, v in usage.items() if k.startswith("cache_")}
    yield wire.sse(wire.start(usage["input_tokens"], model, **inputs))
    for index, block in enumerate(blocks):
        for event in _block_events(index, block, marker):
            if event is None:
                return
            yield wire.sse(event)
            if event is wire.OVERLOADED:
                return
    details = {k: v for k, v in usage.items() if k == "output_tokens_details"}
    if inputs:
        details.update(inputs, input_tokens=usage["input_tokens"])
    yield wire.sse(*wire.end(stop_reason, usage["output_tokens"], stop_sequence, **details))


@app.get("/v1/models")
def list_models() -> Response:
    """GET /v1/models."""
    if request.headers.get("x-api-key") != API_KEY:
        return error(401, "authentication_error", "invalid x-api-key")
    data = [
        {
            "type": "model",
            "id": "claude-3-haiku-20240307",
            "display_name": "Claude Haiku 3",
            "created_at": "2024-03-07T00:00:00Z",
        },
    ]
    return jsonify(
        {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[0]["id"]}
    )


@app.get("/_last")
def last_request() -> Response:
    """The last valid request body and headers (for assertions in tests)."""
    return jsonify(_last)
