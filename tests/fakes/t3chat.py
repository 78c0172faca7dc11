"""A fake t3.chat: checks the cookie header and body shape, streams both formats slowly.

`/api/chat` answers in the data-stream format (`0:"..."`), `/sse/api/chat` in SSE. Each write is
cut in the middle of a line (and of a multi-byte character), as a real network may deliver it.
Special upstream model ids: `fake-dump` answers with the turns it received as JSON text,
`fake-slow` pauses longer between pieces, `fake-html` (login page), `fake-challenge`
(Cloudflare), `fake-limited` (429), `fake-garbage` (not a stream), `fake-midway-error`
(an error line after some text).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, jsonify, request

# Cookie values contain colons, as real ones do, so the `<cookies>:<session>` split is tested.
COOKIES = "wos-session=Fe26.2**fake:sealed:value; cf_clearance=clear:ance-0042; theme=dark"
SESSION_ID = "convex-session-7f3a9c"
REPLY = "Hello from t3 — grüße 👋 and "
DELAY = 0.02
SLOW_DELAY = 0.25
LOGIN_PAGE = "<!DOCTYPE html><html><body><form action='/login'>Sign in</form></body></html>"

# Recorded bodies in both formats (ids shortened); both carry RECORDED_TEXT.
RECORDED_TEXT = "Hello, wörld 👋\n"
RECORDED_DATA_STREAM = (
    'f:{"messageId":"msg-8d1c"}\n'
    '0:"Hello"\n'
    '0:", wörld"\n'
    'g:"Considering the greeting"\n'
    '0:" 👋\\n"\n'
    '2:[{"type":"ref","id":"x"}]\n'
    '8:[{"annotations":[]}]\n'
    'e:{"finishReason":"stop","usage":{"promptTokens":10,"completionTokens":4},'
    '"isContinued":false}\n'
    'd:{"finishReason":"stop","usage":{"promptTokens":10,"completionTokens":4}}\n'
).encode()
RECORDED_SSE = (
    'data: {"type":"start","messageId":"msg-8d1c"}\n\n'
    'data: {"type":"start-step"}\n\n'
    'data: {"type":"text-start","id":"0"}\n\n'
    'data: {"type":"text-delta","id":"0","delta":"Hello"}\n\n'
    'data: {"type":"reasoning-delta","id":"r","delta":"Considering"}\n\n'
    'data: {"type":"text-delta","id":"0","delta":", wörld"}\n\n'
    'data: {"type":"text-delta","id":"0","delta":" 👋\\n"}\n\n'
    'data: {"type":"text-end","id":"0"}\n\n'
    'data: {"type":"finish-step"}\n\n'
    'data: {"type":"finish","finishReason":"stop"}\n\n'
    "data: [DONE]\n\n"
).encode()

app = Flask(__name__)


def _shape_problem(body: Any) -> str | None:
    """What is wrong with the request body, or None when it has the web client's shape."""
    if not isinstance(body, dict):
        return "body is not an object"
    for key in ("messages", "threadMetadata", "responseMessageId", "model", "convexSessionId"):
        if key not in body:
            return f"missing {key}"
    if body["convexSessionId"] != SESSION_ID:
        return "unknown convexSessionId"
    if not isinstance(body["threadMetadata"].get("id"), str):
        return "threadMetadata.id missing"
    params = body.get("modelParams") or {}
    if params.get("reasoningEffort") not in ("low", "medium", "high"):
        return "bad modelParams.reasoningEffort"
    if not isinstance(params.get("includeSearch"), bool):
        return "bad modelParams.includeSearch"
    for turn in body["messages"]:
        if set(turn) != {"id", "role", "parts", "attachments"} or turn["attachments"] != []:
            return "bad message keys"
        if turn["role"] not in ("user", "assistant"):
            return f"bad role {turn['role']}"
        if [set(part) for part in turn["parts"]] != [{"type", "text"}]:
            return "bad parts"
    return None


def _pieces(body: dict[str, Any]) -> list[str]:
    if body["model"] == "fake-dump":
        turns = [{"role": t["role"], "text": t["parts"][0]["text"]} for t in body["messages"]]
        text = json.dumps({"turns": turns, "modelParams": body["modelParams"]})
        return [text[i : i + 40] for i in range(0, len(text), 40)]
    last = body["messages"][-1]["parts"][0]["text"]
    return [REPLY, f"[{body['model']}] ", "you said: ", last]


def split_line(line: bytes) -> list[bytes]:
    """Two writes for one line: cut inside a multi-byte character when there is one."""
    cut = next((i + 1 for i, byte in enumerate(line) if byte >= 0xC0), len(line) // 2)
    return [line[:cut], line[cut:]]


class SlowBody(io.BufferedReader):
    """A body for the `responses` library that hands out one piece per read, like a network."""

    def __init__(self, pieces: list[bytes]) -> None:
        super().__init__(io.BytesIO(b""))
        self.pieces = list(pieces)
        self.reads = 0

    @property
    def closed(self) -> bool:
        """True once every piece was read."""
        return not self.pieces

    def read(self, amt: int | None = None, *args: object) -> bytes:
        """The next piece, whatever size was asked for."""
        self.reads += 1
        return self.pieces.pop(0) if self.pieces else b""

    def read1(self, amt: int = -1) -> bytes:
        """Same as read: one piece."""
        return self.read(amt)


def _data_stream(pieces: list[str], delay: float, fail: bool) -> Iterator[bytes]:
    yield b'f:{"messageId":"msg-1"}\n'
    for i, piece in enumerate(pieces):
        time.sleep(delay if i else 0)
        yield from split_line(b"0:" + json.dumps(piece, ensure_ascii=False).encode() + b"\n")
        yield b'g:"thinking is ignored"\n'
    if fail:
        yield b'3:"The model is overloaded"\n'
        return
    yield b'e:{"finishReason":"stop","isContinued":false}\n'
    yield b'd:{"finishReason":"stop","usage":{"promptTokens":1,"completionTokens":1}}\n'


def _sse(pieces: list[str], delay: float, fail: bool) -> Iterator[bytes]:
    def event(payload: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"

    yield event({"type": "start", "messageId": "msg-1"})
    yield event({"type": "text-start", "id": "t1"})
    for i, piece in enumerate(pieces):
        time.sleep(delay if i else 0)
        yield from split_line(event({"type": "text-delta", "id": "t1", "delta": piece}))
    if fail:
        yield event({"type": "error", "errorText": "The model is overloaded"})
        return
    yield event({"type": "text-end", "id": "t1"})
    yield event({"type": "finish", "finishReason": "stop"})
    yield b"data: [DONE]\n\n"


def _special(model: str) -> Response | None:
    """The canned failures some model ids ask for."""
    if model == "fake-html":
        return Response(LOGIN_PAGE, mimetype="text/html")
    if model == "fake-challenge":
        headers = {"cf-mitigated": "challenge", "Server": "cloudflare"}
        return Response(LOGIN_PAGE, status=403, mimetype="text/html", headers=headers)
    if model == "fake-limited":
        return Response(
            json.dumps({"error": "Too many requests"}),
            status=429,
            mimetype="application/json",
            headers={"Retry-After": "7"},
        )
    if model == "fake-garbage":
        return Response("Hello there, this is not a stream.\n", mimetype="text/plain")
    return None


def _chat(sse: bool) -> Response:
    if request.headers.get("Cookie") != COOKIES:
        return jsonify({"error": "Unauthorized"}), 401
    body = request.get_json(silent=True)
    problem = _shape_problem(body)
    if problem:
        return jsonify({"error": problem}), 400
    special = _special(body["model"])
    if special is not None:
        return special
    delay = SLOW_DELAY if body["model"] == "fake-slow" else DELAY
    fail = body["model"] == "fake-midway-error"
    stream = (_sse if sse else _data_stream)(_pieces(body), delay, fail)
    mimetype = "text/event-stream" if sse else "text/plain"
    return Response(stream, mimetype=mimetype, headers={"Cache-Control": "no-cache"})


@app.post("/api/chat")
def chat_data_stream() -> Response:
    """The data-stream variant."""
    return _chat(sse=False)


@app.post("/sse/api/chat")
def chat_sse() -> Response:
    """The SSE variant."""
    return _chat(sse=True)


@app.get("/health")
def health() -> Response:
    """Readiness probe for the test harness."""
    return jsonify({"status": "ok"})
