"""A fake OpenAI-compatible upstream with the documented quirks of other servers, picked by the
requested model: streams without `[DONE]` (older text-generation-inference), failures sent as
`error:` lines (older llama.cpp), usage only in `x_groq` (Groq), fractional `created` times
(SambaNova), choices without `delta` (Azure's asynchronous content filter), `[DONE]` padded
with blanks, one JSON body (an error or a whole answer) typed as an event stream, and a model
list that is a bare array (Together). Any other endpoint or method is answered as LM Studio
answers it: a 200 with an error that names it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, jsonify, request

app = Flask(__name__)
TEXT = ["Hello", " from", " a quirky server."]
USAGE = {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16, "queue_time": 0.01}
CONTEXT_ERROR = "the request exceeds the available context size"
MODELS = [
    "no-done",
    "error-line",
    "error-line-first",
    "groq-usage",
    "fractional",
    "no-delta",
    "padded-done",
    "json-error",
    "json-answer",
]
# What the json-error model sends as its whole "stream".
JSON_ERROR = {
    "error": {
        "message": CONTEXT_ERROR,
        "type": "invalid_request_error",
        "param": "messages",
        "code": "context_length_exceeded",
    }
}
# What Azure's asynchronous filter adds to choices, in chunks without a `delta`.
FILTER = {"hate": {"filtered": False, "severity": "safe"}}


def _chunk(model: str, delta: dict[str, Any], finish: str | None, **extra: Any) -> bytes:
    created: float = 1700000000.25 if model == "fractional" else 1700000000
    chunk = {
        "id": "chatcmpl-quirky",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _annotation(model: str) -> bytes:
    """A chunk whose choice has no `delta`: the filter's verdict on text already sent."""
    choice = {"index": 0, "finish_reason": None, "content_filter_results": FILTER}
    chunk = {"id": "", "object": "", "created": 0, "model": model, "choices": [choice]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _events(model: str) -> Iterator[bytes]:
    if model == "error-line-first":
        yield b'error: {"code":400,"message":"%s","type":"invalid_request_error"}\n\n' % (
            CONTEXT_ERROR.encode()
        )
        yield b"data: [DONE]\n\n"
        return
    yield _chunk(model, {"role": "assistant", "content": ""}, None)
    for piece in TEXT:
        yield _chunk(model, {"content": piece}, None)
    if model == "error-line":
        yield b'error: {"code":500,"message":"KV cache is full","type":"server_error"}\n\n'
    elif model == "groq-usage":
        yield _chunk(model, {}, "stop", x_groq={"id": "req_1", "usage": USAGE})
    elif model == "no-delta":
        yield _annotation(model)
        yield _chunk(model, {}, "stop")
        yield _annotation(model)
    else:
        yield _chunk(model, {}, "stop")
    if model == "padded-done":
        yield b"data: [DONE] \t\n\n"
    elif model != "no-done":
        yield b"data: [DONE]\n\n"


def _answer(model: str) -> dict[str, Any]:
    """The whole answer, as a request without `stream` gets it."""
    return {
        "id": "chatcmpl-quirky",
        "object": "chat.completion",
        "created": 1700000000.25 if model == "fractional" else 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(TEXT)},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {k: USAGE[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
    }


@app.post("/v1/chat/completions")
def chat() -> Any:
    """A stream (or, without `stream`, one answer) shaped by the model's quirk."""
    body = request.get_json()
    model = body["model"]
    if body.get("stream") and model in ("json-error", "json-answer"):
        whole = JSON_ERROR if model == "json-error" else _answer(model)
        return Response(json.dumps(whole), mimetype="text/event-stream")
    if body.get("stream"):
        return Response(_events(model), mimetype="text/event-stream")
    return jsonify(_answer(model))


@app.get("/v1/models")
def models() -> Any:
    """The model list as a bare array of model objects."""
    return jsonify(
        [{"id": model, "object": "model", "created": 1, "type": "chat"} for model in MODELS]
    )


@app.errorhandler(404)
@app.errorhandler(405)
def unexpected(_: Exception) -> Any:
    """An endpoint or method this server does not serve: a 200 whose error names it."""
    return jsonify({"error": f"Unexpected endpoint or method. ({request.method} {request.path})"})
