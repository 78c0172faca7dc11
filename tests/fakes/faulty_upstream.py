"""A fake OpenAI-compatible upstream that misbehaves on request, one chosen fault per request.

Run it with `python -m tests.fakes.faulty_upstream --port N`. It speaks HTTP/1.1 over raw
sockets (keep-alive included), so it can cut a connection at any byte. The fault is the
upstream model name of `POST /v1/chat/completions`: `<fault>` always misbehaves, `<fault>~<n>`
misbehaves on the first `n` attempts of one request key (the body's `user`) and answers
normally afterwards. The faults are listed in `FAULTS` (with `http_<status>` and
`http_<status>_empty` for every status in `STATUSES`, and `http_<status>_html` /
`http_<status>_text` — a proxy's HTML error page, a plain-text line — for `PAGE_STATUSES`);
`ok` answers normally. `http_<status>[_empty|_html|_text]` works for any status.

The same faults speak Gemini (`POST /v1beta/models/{fault}:generateContent` and
`:streamGenerateContent?alt=sse`) and Anthropic (`POST /v1/messages`, the fault as `model`),
with their wire formats from tests/fakes/faulty_wires.py.

`GET /_stats` answers `{"open": n, "accepted": n, "requests": n}`, where `open` counts the
connections open right now, this one excluded. `GET /health` answers `{"status": "ok"}`.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import socketserver
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from tests.fakes import faulty_bodies as bodies
from tests.fakes.faulty_faults import Fault, answer
from tests.fakes.faulty_wires import AnthropicWire, GeminiWire

STATUSES = (400, 401, 403, 404, 405, 408, 409, 410, 413, 415, 422, 429, 500, 501, 502, 503, 504)
PAGE_STATUSES = (400, 401, 404, 429, 500, 502, 503)
_STATUS_FAULT = re.compile(r"http_(\d{3})(?:_(empty|html|text))?")
_GEMINI = re.compile(r"^/v1beta/models/(?P<model>[^/:?]+):(?P<method>\w+)(?:\?.*)?$")
_ATTEMPTS = re.compile(r"^(?P<fault>[a-z0-9_]+)(?:~(?P<times>\d+))?$")


class Stats:
    """Connections and requests seen, shared by every connection thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open = 0
        self.accepted = 0
        self.requests = 0
        self.attempts: dict[tuple[str, str], int] = {}

    def attempt(self, model: str, key: str) -> int:
        """Count one more attempt for (model, key); returns the attempt number from 1."""
        with self.lock:
            self.attempts[(model, key)] = self.attempts.get((model, key), 0) + 1
            return self.attempts[(model, key)]


STATS = Stats()


class Request:
    """One parsed HTTP request."""

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    @property
    def keep_alive(self) -> bool:
        """False when the client asked to close the connection after this request."""
        return self.headers.get("connection", "").lower() != "close"

    def json(self) -> Any:
        """The body as JSON ({} when it is not)."""
        try:
            return json.loads(self.body)
        except ValueError:
            return {}


def read_request(reader: Any) -> Request | None:
    """The next request on a connection, or None when the client closed it."""
    line = reader.readline(65536)
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = reader.readline(65536)
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length") or 0))
    return Request(method, path, headers, body)


FAULTS = (
    "ok",
    "slow",
    "hang",
    "bad_json",
    "html",
    "cut_before_headers",
    "cut_after_headers",
    "cut_mid_event",
    "no_done",
    "no_done_unfinished",
    "stall",
    "silent",
    "drip",
    "huge",
    "bad_utf8",
    "error_event",
)
ALL_FAULTS = (
    FAULTS
    + tuple(f"http_{status}{suffix}" for status in STATUSES for suffix in ("", "_empty"))
    + tuple(f"http_{status}{suffix}" for status in PAGE_STATUSES for suffix in ("_html", "_text"))
)


def serve_chat(conn: socket.socket, request: Request, wire: Any = bodies) -> bool:
    """Answer a chat request with the fault its model names; True if the connection lives on."""
    body = request.json()
    model = str(body.get("model") or "ok")
    return serve_fault(conn, request, model, bool(body.get("stream")), wire)


def serve_gemini(conn: socket.socket, request: Request, model: str, method: str) -> bool:
    """A Gemini generateContent / streamGenerateContent call; the fault is the path's model."""
    if method not in ("generateContent", "streamGenerateContent"):
        answer(conn, 404, GeminiWire.error(404, "no such method"), "application/json")
        return True
    stream = method == "streamGenerateContent"
    return serve_fault(conn, request, unquote(model), stream, GeminiWire)


def serve_fault(conn: socket.socket, request: Request, model: str, stream: bool, wire: Any) -> bool:
    """Answer with the fault `model` names, in `wire`'s dialect; True if the connection lives on."""
    match = _ATTEMPTS.match(model)
    fault_name = match["fault"] if match else "bad_request"
    if match and match["times"] is not None:
        attempt = STATS.attempt(model, str(request.json().get("user") or ""))
        if attempt > int(match["times"]):
            fault_name = "ok"
    fault = Fault(model, stream, wire)
    status = _STATUS_FAULT.fullmatch(fault_name)
    if status:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        return fault.status(conn, int(status[1]), status[2] or "", token)
    handler: Callable[[socket.socket], bool] | None = getattr(fault, fault_name, None)
    if fault_name not in FAULTS or handler is None:
        answer(conn, 400, wire.error(400, f"unknown fault {model!r}"), "application/json")
        return True
    return handler(conn)


def serve(conn: socket.socket, request: Request) -> bool:
    """Route one request; True when the connection may carry another."""
    with STATS.lock:
        STATS.requests += 1
    if request.method == "GET" and request.path == "/health":
        answer(conn, 200, b'{"status":"ok"}', "application/json")
    elif request.method == "GET" and request.path == "/_stats":
        with STATS.lock:
            stats = {"open": STATS.open - 1, "accepted": STATS.accepted, "requests": STATS.requests}
        answer(conn, 200, json.dumps(stats).encode(), "application/json")
    elif request.method == "POST" and request.path.endswith("/chat/completions"):
        return serve_chat(conn, request) and request.keep_alive
    elif request.method == "POST" and request.path == "/v1/messages":
        return serve_chat(conn, request, AnthropicWire) and request.keep_alive
    elif request.method == "POST" and (gemini := _GEMINI.match(request.path)):
        return serve_gemini(conn, request, gemini["model"], gemini["method"]) and request.keep_alive
    else:
        answer(conn, 404, bodies.error(404, "no such route"), "application/json")
    return request.keep_alive


class Handler(socketserver.BaseRequestHandler):
    """One connection: requests one after another until a fault or the client closes it."""

    def handle(self) -> None:
        conn: socket.socket = self.request
        with STATS.lock:
            STATS.open += 1
            STATS.accepted += 1
        try:
            reader = conn.makefile("rb")
            while (request := read_request(reader)) is not None and serve(conn, request):
                pass
        except (OSError, ValueError):
            # The client went away mid-answer, or sent something that is not HTTP.
            return
        finally:
            with STATS.lock:
                STATS.open -= 1


class Server(socketserver.ThreadingTCPServer):
    """Threaded, with a deep accept queue; threads die with the process."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main() -> None:
    """Serve on 127.0.0.1 until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    with Server(("127.0.0.1", args.port), Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
