"""A fake OpenAI-compatible upstream whose chat streams never end; it records when each is closed.

`POST /v1/chat/completions` streams one content chunk every `DELAY` seconds until the reader goes
away (or `LIMIT` chunks). Streams are named by the request's `user` field; `GET /streams/<name>`
answers `{"state": "open" | "closed" | "unknown", "sent": n}`, so a test can see that the
gateway in front dropped the upstream connection when its own client did.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, jsonify, request

DELAY = 0.05
LIMIT = 2400
app = Flask(__name__)
_streams: dict[str, dict[str, Any]] = {}


def _event(name: str, model: str, delta: dict[str, Any]) -> bytes:
    chunk = {
        "id": f"chatcmpl-{name}",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _generate(name: str, model: str) -> Iterator[bytes]:
    record = _streams[name]
    try:
        yield _event(name, model, {"role": "assistant", "content": ""})
        for i in range(LIMIT):
            time.sleep(DELAY)
            yield _event(name, model, {"content": f" word{i}"})
            record["sent"] = i + 1
    finally:
        # Runs when the server closes the body because the connection went away.
        record["state"] = "closed"
        record["closed_at"] = time.time()


@app.post("/v1/chat/completions")
def chat() -> Response:
    """An endless chat stream named by `user`."""
    body = request.get_json()
    name = str(body.get("user") or "anonymous")
    _streams[name] = {"state": "open", "sent": 0}
    return Response(_generate(name, body["model"]), mimetype="text/event-stream")


@app.get("/streams/<name>")
def stream_state(name: str) -> Response:
    """Whether the stream `name` is still open, and how many chunks it sent."""
    return jsonify(_streams.get(name, {"state": "unknown", "sent": 0}))


@app.get("/health")
def health() -> Response:
    """Readiness probe."""
    return jsonify({"status": "ok"})
