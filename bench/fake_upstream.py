"""A fast fake OpenAI upstream for benchmarks: one epoll loop, keep-alive, canned answers.

`POST .../chat/completions` answers a ~1 KB `chat.completion`, or with `"stream": true` an SSE
stream of 50 chunks 20 ms apart (chunked encoding, one HTTP chunk per event, then `[DONE]`).
Anything else is a 404. A single process without greenlets or a framework, so that its own
cost stays small next to the gateway's on a 2-core machine.

Run: `python bench/fake_upstream.py --port 9100 [--chunks 50 --interval 0.02]`.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import resource
import select
import signal
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import canned  # noqa: E402


class Connection:
    """One client connection: bytes read so far and bytes still to send."""

    __slots__ = ("sock", "inbuf", "outbuf", "streaming")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = b""
        self.outbuf = b""
        self.streaming = False


class FakeUpstream:
    """The event loop: accepts, parses requests, answers, and paces stream chunks."""

    def __init__(self, port: int, chunks: int, interval: float) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", port))
        self.listener.listen(4096)
        self.listener.setblocking(False)
        self.epoll = select.epoll()
        self.epoll.register(self.listener.fileno(), select.EPOLLIN)
        self.conns: dict[int, Connection] = {}
        self.completion = canned.response("200 OK", "application/json", canned.completion_body())
        self.frames = canned.stream_events(chunks)
        self.interval = interval
        # (due time, tie-breaker, connection, index of the next frame)
        self.due: list[tuple[float, int, Connection, int]] = []
        self.seq = itertools.count()
        self.running = True

    def serve(self) -> None:
        """Run until SIGTERM or SIGINT."""
        while self.running:
            # Bounded so that a signal (PEP 475 retries the wait) is noticed soon.
            timeout = 0.5
            if self.due:
                timeout = min(timeout, max(0.0, self.due[0][0] - time.monotonic()))
            try:
                ready = self.epoll.poll(timeout)
            except InterruptedError:
                continue
            for fd, mask in ready:
                if fd == self.listener.fileno():
                    self._accept()
                    continue
                conn = self.conns.get(fd)
                if conn is None:
                    continue
                if mask & select.EPOLLOUT:
                    self._flush(conn)
                if mask & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    self._read(conn)
            self._send_due()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conns[sock.fileno()] = Connection(sock)
            self.epoll.register(sock.fileno(), select.EPOLLIN)

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(262144)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        conn.inbuf += data
        while not conn.streaming and self._handle_one(conn):
            pass

    def _handle_one(self, conn: Connection) -> bool:
        """Answer the first complete request in the buffer; False when none is complete."""
        buf = conn.inbuf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = buf[:end].lower()
        length = 0
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
        if len(buf) < end + 4 + length:
            return False
        body = buf[end + 4 : end + 4 + length]
        conn.inbuf = buf[end + 4 + length :]
        target = head[: head.find(b"\r\n")].split(b" ")
        if target[0] == b"post" and target[1].endswith(b"/chat/completions"):
            if b'"stream":true' in body or b'"stream": true' in body:
                self._start_stream(conn)
            else:
                self._send(conn, self.completion)
        else:
            self._send(conn, canned.NOT_FOUND)
        return True

    def _start_stream(self, conn: Connection) -> None:
        conn.streaming = True
        self._send(conn, canned.STREAM_HEAD + self.frames[0])
        self._schedule(conn, 1, time.monotonic() + self.interval)

    def _schedule(self, conn: Connection, index: int, due: float) -> None:
        heapq.heappush(self.due, (due, next(self.seq), conn, index))

    def _send_due(self) -> None:
        now = time.monotonic()
        while self.due and self.due[0][0] <= now:
            due, _, conn, index = heapq.heappop(self.due)
            if conn.sock.fileno() < 0:
                continue
            self._send(conn, self.frames[index])
            if index + 1 < len(self.frames):
                # Paced from the schedule, not from now, so a late tick does not drift.
                self._schedule(conn, index + 1, due + self.interval)
            else:
                conn.streaming = False
                if conn.inbuf:
                    while not conn.streaming and self._handle_one(conn):
                        pass

    def _send(self, conn: Connection, data: bytes) -> None:
        if conn.outbuf:
            conn.outbuf += data
            return
        try:
            sent = conn.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return
        if sent < len(data):
            conn.outbuf = data[sent:]
            self.epoll.modify(conn.sock.fileno(), select.EPOLLIN | select.EPOLLOUT)

    def _flush(self, conn: Connection) -> None:
        try:
            sent = conn.sock.send(conn.outbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        conn.outbuf = conn.outbuf[sent:]
        if not conn.outbuf:
            self.epoll.modify(conn.sock.fileno(), select.EPOLLIN)

    def _close(self, conn: Connection) -> None:
        fd = conn.sock.fileno()
        if fd < 0:
            return
        self.conns.pop(fd, None)
        with contextlib.suppress(OSError):
            self.epoll.unregister(fd)
        conn.sock.close()

    def stop(self, *_: object) -> None:
        """Leave the loop at its next turn."""
        self.running = False


def main() -> None:
    """Parse arguments and serve until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.02)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = FakeUpstream(args.port, args.chunks, args.interval)
    signal.signal(signal.SIGTERM, server.stop)
    signal.signal(signal.SIGINT, server.stop)
    print(f"fake upstream on 127.0.0.1:{args.port}", flush=True)
    server.serve()


if __name__ == "__main__":
    main()
