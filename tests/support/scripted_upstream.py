"""A scripted upstream on 127.0.0.1 that writes exact bytes, with pauses, on real sockets.

Chunk boundaries, a body cut short of its Content-Length, a stall or a connection closed
mid-answer then happen on the wire, where the gateway's read path meets them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from app.backends.http import UpstreamHTTP

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    """`data` as one HTTP/1.1 chunk."""
    return b"%X\r\n%s\r\n" % (len(data), data)


def ok(text: bytes) -> bytes:
    """A complete 200 answer whose body is `text`."""
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text)


class Scripted:
    """Answers each request on each connection with the next script: (bytes, pause) steps."""

    def __init__(self, scripts: list[list[tuple[bytes | None, float]]]) -> None:
        self.scripts = scripts
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.scripts:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            while self.scripts:
                if not _read_request(conn):
                    return
                script = self.scripts.pop(0)
                for data, pause in script:
                    time.sleep(pause)
                    if data is None:
                        return  # close the connection here
                    try:
                        conn.sendall(data)
                    except OSError:
                        return  # the client closed the connection before the script's end

    def close(self) -> None:
        """Stop accepting connections."""
        self.listener.close()


def _read_request(conn: socket.socket) -> bool:
    head = b""
    while b"\r\n\r\n" not in head:
        try:
            data = conn.recv(65536)
        except ConnectionResetError:
            return False  # the client gave up on the connection (closed it unread)
        if not data:
            return False
        head += data
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = head.split(b"\r\n\r\n", 1)[1]
    while len(body) < length:
        body += conn.recv(65536)
    return True


@pytest.fixture
def scripted_http() -> Iterator[Callable[..., tuple[Scripted, UpstreamHTTP]]]:
    """Start a Scripted server (one script per connection) and an UpstreamHTTP `up` for it,
    with a 5 s read timeout unless `read_timeout` says otherwise."""
    opened: list[Scripted | UpstreamHTTP] = []

    def start(
        *scripts: list[tuple[bytes | None, float]], read_timeout: float = 5
    ) -> tuple[Scripted, UpstreamHTTP]:
        server = Scripted(list(scripts))
        base = f"http://127.0.0.1:{server.port}"
        http = UpstreamHTTP("up", base, {"read_timeout": read_timeout})
        opened.extend((server, http))
        return server, http

    yield start
    for item in opened:
        item.close()
