"""A fake OpenAI-compatible upstream whose chat streams never end; it records when each is closed.

`POST /v1/chat/completions` streams one content chunk every `DELAY` seconds until the reader goes
away (or `LIMIT` chunks). Streams are named by the request's `user` field; `GET /streams/<name>`
answers `{"state": "open" | "closed" | "unknown", "sent": n, "requests": n}`, so a test can see
that the gateway in front dropped the upstream connection when its own client did.

A quiet upstream, as a model thinking: `pause_before` (seconds before anything is sent, also
for `"stream": false`, which then answers one chat.completion) and `pause_between` (seconds
between chunks after the first) are waited out while the connection is watched, so that a
gateway closing it during the silence is seen at once; `headers_first` sends the headers before
`pause_before`, and `media` sets the stream's media type. `chunks` ends a stream after that
many content chunks with a finish chunk and `[DONE]`, then waits `tail` seconds before its
body ends. `status` answers that error status (with `Retry-After: 2`) instead. Each stream's
record has the `port` the request came from (the same port: a kept-alive connection).

The same endless streams in Anthropic's and Gemini's formats (tests/fakes/endless_providers.py):
`POST /v1/messages` (key `ANTHROPIC_KEY`) and `POST /v1beta/models/<model>:streamGenerateContent
?alt=sse` (key `GEMINI_KEY`) send one text delta every `DELAY` seconds, watched the same way.
Their streams are named by the text of the last user message (Anthropic gets only a hash of
`user`, Gemini nothing of it). An Anthropic stream named `think<seconds>-...` sends its opening
events, then only `ping`s for that long before its first text delta, as a model that thinks.
"""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask, Response, jsonify, request

from tests.fakes import endless_providers as providers

DELAY = 0.05
LIMIT = 2400
app = Flask(__name__)
_streams: dict[str, dict[str, Any]] = {}


def _event(name: str, model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk = {
        "id": f"chatcmpl-{name}",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _quiet(sock: Any, seconds: float) -> bool:
    """Wait `seconds` (cooperatively); False as soon as the peer closes the connection."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if sock is None:
            time.sleep(left)
            break
        readable, _, _ = select.select([sock], [], [], min(left, 0.05))
        if readable and not sock.recv(1, socket.MSG_PEEK):
            return False
    return True


def _open(name: str) -> dict[str, Any]:
    """A fresh record for the stream `name`, counting the requests made under that name."""
    requests = _streams.get(name, {}).get("requests", 0) + 1
    port = request.environ.get("REMOTE_PORT")
    _streams[name] = {"state": "open", "sent": 0, "requests": requests, "port": port}
    return _streams[name]


def _close(record: dict[str, Any]) -> None:
    record["state"] = "closed"
    record["closed_at"] = time.time()


def _generate(name: str, body: dict[str, Any], sock: Any) -> Iterator[bytes]:
    record, model = _streams[name], body["model"]
    between = float(body.get("pause_between", DELAY))
    try:
        if body.get("headers_first"):
            yield b""  # gunicorn sends the headers with the first write, even an empty one
        if not _quiet(sock, float(body.get("pause_before", 0))):
            return
        yield _event(name, model, {"role": "assistant", "content": ""})
        for i in range(int(body.get("chunks", LIMIT))):
            if not _quiet(sock, between):
                return
            yield _event(name, model, {"content": f" word{i}"})
            record["sent"] = i + 1
        if "chunks" in body:
            yield _event(name, model, {}, "stop") + b"data: [DONE]\n\n"
            _quiet(sock, float(body.get("tail", 0)))
    finally:
        # Runs when the server closes the body because the connection went away.
        _close(record)


@app.post("/v1/chat/completions")
def chat() -> Response:
    """An endless chat stream named by `user` (or a late answer, or an error)."""
    body = request.get_json()
    name = str(body.get("user") or "anonymous")
    _open(name)
    if body.get("status"):
        _streams[name]["state"] = "closed"
        error = {"message": "Slow down.", "type": "requests", "param": None, "code": None}
        return Response(
            json.dumps({"error": error}),
            status=int(body["status"]),
            mimetype="application/json",
            headers={"Retry-After": "2"},
        )
    sock = request.environ.get("gunicorn.socket")
    if not body.get("stream"):
        answer = _late_answer(name, body["model"], sock, float(body.get("pause_before", 0)))
        return Response(answer, mimetype="application/json")
    events = _generate(name, body, sock)
    return Response(events, mimetype=body.get("media") or "text/event-stream")


def _late_answer(name: str, model: str, sock: Any, before: float) -> Iterator[bytes]:
    try:
        if not _quiet(sock, before):
            return
        message = {"role": "assistant", "content": "late", "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        answer = {
            "id": f"chatcmpl-{name}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [choice],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        yield json.dumps(answer).encode()
    finally:
        _close(_streams[name])


def _endless(
    name: str, opening: bytes, delta: Callable[[int], bytes], idle: bytes = b""
) -> Iterator[bytes]:
    """`opening` with the first text delta, then one delta every `DELAY` seconds until the
    reader goes away (seen while waiting, or as the server closes the body). A stream named
    `think<seconds>-...` first sends `opening` and then `idle` every `DELAY` seconds for that
    long, as a model that thinks before its first token."""
    # Taken now: the body is iterated after the request context is gone.
    record, sock = _open(name), request.environ.get("gunicorn.socket")
    think = float(name[5:].partition("-")[0]) if name.startswith("think") else 0.0
    return _relay(record, sock, opening, delta, (idle, think))


def _relay(
    record: dict[str, Any],
    sock: Any,
    opening: bytes,
    delta: Callable[[int], bytes],
    thinking: tuple[bytes, float],
) -> Iterator[bytes]:
    idle, think = thinking
    try:
        if think:
            yield opening
            opening = b""
            end = time.monotonic() + think
            while time.monotonic() < end:
                if not _quiet(sock, DELAY):
                    return
                yield idle
        for i in range(LIMIT):
            yield (opening if i == 0 else b"") + delta(i)
            record["sent"] = i + 1
            if not _quiet(sock, DELAY):
                return
    finally:
        _close(record)


@app.post("/v1/messages")
def anthropic_messages() -> Response:
    """An endless Anthropic Messages stream named by the last user message's text."""
    body = request.get_json(silent=True)
    problem = providers.anthropic_problem(request.headers, body)
    if problem is not None:
        return Response(problem, status=400, mimetype="application/json")
    opening = providers.anthropic_opening(body["model"])
    name, ping = providers.anthropic_name(body), providers.ANTHROPIC_PING
    events = _endless(name, opening, providers.anthropic_delta, ping)
    return Response(events, mimetype="text/event-stream")


@app.post("/v1beta/models/<path:target>")
def gemini_stream(target: str) -> Response:
    """An endless Gemini `streamGenerateContent?alt=sse` stream named by the last user text."""
    body = request.get_json(silent=True)
    problem = providers.gemini_problem(request.headers, target, request.args, body)
    if problem is not None:
        return Response(problem, status=400, mimetype="application/json")
    events = _endless(providers.gemini_name(body), b"", providers.gemini_delta)
    return Response(events, mimetype="text/event-stream")


@app.get("/streams/<name>")
def stream_state(name: str) -> Response:
    """Whether the stream `name` is still open, and how many chunks it sent."""
    return jsonify(_streams.get(name, {"state": "unknown", "sent": 0}))


@app.get("/health")
def health() -> Response:
    """Readiness probe."""
    return jsonify({"status": "ok"})
