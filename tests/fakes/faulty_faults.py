"""The faults of the faulty upstream (tests/fakes/faulty_upstream.py), written on raw sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

from tests.fakes import faulty_bodies as bodies

# Seconds: how long `slow` waits before answering, and the pause between `drip` bytes.
SLOW_DELAY = 0.3
DRIP_DELAY = 1.0
# Bytes of the `huge` answers (50 MB), sent in pieces of `PIECE`.
HUGE_SIZE = 50 * 1024 * 1024
PIECE = 256 * 1024
# A connection that is never answered is held at most this long.
HOLD_LIMIT = 60.0


def head(status: int, headers: dict[str, str]) -> bytes:
    """A status line and headers."""
    lines = [f"HTTP/1.1 {status} {bodies.REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(conn: socket.socket, status: int, body: bytes, content_type: str) -> None:
    """A complete response with a Content-Length."""
    headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
    conn.sendall(head(status, headers) + body)


def chunk(data: bytes) -> bytes:
    """One HTTP chunk (an empty `data` ends the body)."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def hold(conn: socket.socket) -> None:
    """Answer nothing; return once the client closes the connection (or after HOLD_LIMIT)."""
    conn.settimeout(HOLD_LIMIT)
    try:
        while conn.recv(4096):
            pass
    except OSError:
        return


def cut(conn: socket.socket) -> None:
    """Close the connection at once, unsent data dropped."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        return


def drip(conn: socket.socket, data: bytes) -> None:
    """Send `data` one byte at a time, DRIP_DELAY apart, until done or the client leaves."""
    for i in range(len(data)):
        conn.sendall(data[i : i + 1])
        time.sleep(DRIP_DELAY)


class Fault:
    """What one faulty answer does, as a non-stream answer and as a stream."""

    def __init__(self, model: str, stream: bool, wire: Any = bodies) -> None:
        self.model = model
        self.stream = stream
        # The bodies' dialect: `faulty_bodies` (OpenAI) or a wire of `faulty_wires`.
        self.wire = wire

    # Each fault gets the connection and returns True when it may be reused.

    def ok(self, conn: socket.socket) -> bool:
        """A healthy answer or stream."""
        if not self.stream:
            answer(conn, 200, self.wire.completion(self.model), "application/json")
            return True
        conn.sendall(head(200, bodies.SSE_HEADERS))
        conn.sendall(b"".join(chunk(event) for event in self.wire.events(self.model)) + chunk(b""))
        return True

    def slow(self, conn: socket.socket) -> bool:
        """A healthy answer after SLOW_DELAY."""
        time.sleep(SLOW_DELAY)
        return self.ok(conn)

    def hang(self, conn: socket.socket) -> bool:
        """No answer at all, until the client gives up."""
        hold(conn)
        return False

    def bad_json(self, conn: socket.socket) -> bool:
        """Malformed JSON: a cut-off body, or a stream whose first event is cut off."""
        if not self.stream:
            answer(conn, 200, b'{"id": "chatcmpl-bad", "choices": [{"ind', "application/json")
            return True
        # A cut-off first event, then the wire's last one (`[DONE]` for OpenAI).
        events = [b'data: {"id": "chatcmpl-bad", "choices": [\n\n', self.wire.events("x")[-1]]
        conn.sendall(head(200, bodies.SSE_HEADERS) + b"".join(map(chunk, events)) + chunk(b""))
        return True

    def html(self, conn: socket.socket) -> bool:
        """A 200 web page instead of JSON."""
        answer(conn, 200, b"<html><body><h1>Welcome to nginx!</h1></body></html>", "text/html")
        return True

    def cut_before_headers(self, conn: socket.socket) -> bool:
        """The request is read, then the connection is closed."""
        cut(conn)
        return False

    def cut_after_headers(self, conn: socket.socket) -> bool:
        """Headers promising a body, then the connection is closed."""
        if self.stream:
            conn.sendall(head(200, bodies.SSE_HEADERS))
        else:
            conn.sendall(head(200, {"Content-Type": "application/json", "Content-Length": "400"}))
        cut(conn)
        return False

    def cut_mid_event(self, conn: socket.socket) -> bool:
        """Half the body (after one whole event for streams), then a closed connection."""
        if not self.stream:
            body = self.wire.completion(self.model)
            headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
            conn.sendall(head(200, headers) + body[: len(body) // 2])
        else:
            first, second, *_ = self.wire.events(self.model)
            half = second[: len(second) // 2]
            conn.sendall(head(200, bodies.SSE_HEADERS) + chunk(first) + chunk(half))
        cut(conn)
        return False

    def no_done(self, conn: socket.socket) -> bool:
        """A complete stream without `[DONE]`; a body delimited by the connection's end."""
        if not self.stream:
            # A body delimited by the end of the connection: complete, if old-fashioned.
            headers = {"Content-Type": "application/json", "Connection": "close"}
            conn.sendall(head(200, headers) + self.wire.completion(self.model))
            return False
        events = self.wire.events(self.model)[:-1]
        conn.sendall(head(200, bodies.SSE_HEADERS) + b"".join(map(chunk, events)) + chunk(b""))
        return True

    def no_done_unfinished(self, conn: socket.socket) -> bool:
        """A body that ends cleanly before its answer does: a stream without its finish chunk
        and `[DONE]`, or JSON cut short in a body delimited by the connection's end."""
        if not self.stream:
            body = self.wire.completion(self.model)
            headers = {"Content-Type": "application/json", "Connection": "close"}
            conn.sendall(head(200, headers) + body[: len(body) // 2])
            return False
        events = self.wire.events(self.model)[:-2]
        conn.sendall(head(200, bodies.SSE_HEADERS) + b"".join(map(chunk, events)) + chunk(b""))
        return True

    def stall(self, conn: socket.socket) -> bool:
        """The start of the answer, then silence."""
        if not self.stream:
            body = self.wire.completion(self.model)
            headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
            conn.sendall(head(200, headers) + body[:20])
        else:
            conn.sendall(head(200, bodies.SSE_HEADERS) + chunk(self.wire.events(self.model)[0]))
        hold(conn)
        return False

    def silent(self, conn: socket.socket) -> bool:
        """The headers, then silence: not a byte of the body, no first event of a stream."""
        if self.stream:
            conn.sendall(head(200, bodies.SSE_HEADERS))
        else:
            length = str(len(self.wire.completion(self.model)))
            conn.sendall(head(200, {"Content-Type": "application/json", "Content-Length": length}))
        hold(conn)
        return False

    def drip(self, conn: socket.socket) -> bool:
        """The answer one byte every DRIP_DELAY."""
        if not self.stream:
            body = self.wire.completion(self.model)
            headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
            conn.sendall(head(200, headers))
            drip(conn, body)
        else:
            conn.sendall(head(200, bodies.SSE_HEADERS))
            for event in self.wire.events(self.model):
                for i in range(len(event)):
                    conn.sendall(chunk(event[i : i + 1]))
                    time.sleep(DRIP_DELAY)
        return False

    def huge(self, conn: socket.socket) -> bool:
        """A 50 MB answer (one huge string, or one huge stream event)."""
        start, end = self.wire.huge_parts(self.model, self.stream)
        size = len(start) + HUGE_SIZE + len(end)
        if self.stream:
            conn.sendall(head(200, bodies.SSE_HEADERS) + chunk(start))
            pieces: Iterator[bytes] = (chunk(b"a" * PIECE) for _ in range(HUGE_SIZE // PIECE))
            ending = chunk(end) + chunk(b"")
        else:
            headers = {"Content-Type": "application/json", "Content-Length": str(size)}
            conn.sendall(head(200, headers) + start)
            pieces = (b"a" * PIECE for _ in range(HUGE_SIZE // PIECE))
            ending = end
        for piece in pieces:
            conn.sendall(piece)
        conn.sendall(ending)
        return True

    def bad_utf8(self, conn: socket.socket) -> bool:
        """A healthy answer whose text holds invalid UTF-8."""
        if not self.stream:
            body = self.wire.completion(self.model, b"caf\xc3 \xff\xfe ok")
            answer(conn, 200, body, "application/json")
            return True
        events = self.wire.events(self.model, b"caf\xc3 \xff\xfe ok")
        conn.sendall(head(200, bodies.SSE_HEADERS) + b"".join(map(chunk, events)) + chunk(b""))
        return True

    def error_event(self, conn: socket.socket) -> bool:
        """A 200 error object, or an error event after the first chunk of a stream."""
        if not self.stream:
            answer(conn, 200, self.wire.error(503, "The engine is overloaded."), "application/json")
            return True
        first = self.wire.events(self.model)[0]
        error = b"data: " + self.wire.error(503, "The engine is overloaded.") + b"\n\n"
        conn.sendall(head(200, bodies.SSE_HEADERS) + chunk(first) + chunk(error) + chunk(b""))
        return True

    def status(self, conn: socket.socket, status: int, body: str, token: str) -> bool:
        """An error status with an error body quoting `token` (`body` ""), no body ("empty"),
        a proxy's HTML error page ("html") or a line of plain text ("text")."""
        if body == "empty":
            answer(conn, status, b"", "application/json")
        elif body == "html":
            answer(conn, status, error_page(status), "text/html; charset=utf-8")
        elif body == "text":
            reason = bodies.REASONS.get(status, "Error")
            answer(conn, status, f"{status} {reason}\n".encode(), "text/plain; charset=utf-8")
        else:
            message = bodies.status_message(status, token)
            answer(conn, status, self.wire.error(status, message), "application/json")
        return True


def error_page(status: int) -> bytes:
    """The error page a reverse proxy (nginx) sends in front of a failed upstream."""
    title = f"{status} {bodies.REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()
