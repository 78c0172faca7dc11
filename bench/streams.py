"""Stream load generator: open N SSE chat streams at once, time every chunk, print a JSON summary.

One epoll loop over raw non-blocking sockets (no HTTP library, no greenlets), so that holding
1,000 streams costs the client little CPU. Each stream counts as a failure unless it answers
200, carries exactly the expected number of `chat.completion.chunk` events, no error event, and
ends with `data: [DONE]` before the deadline.

Run: `python bench/streams.py --port 8000 --streams 1000 --key KEY [--chunks 50]
[--prompt-bytes 200000]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import select
import socket
import statistics
import time

_CHUNK = b"chat.completion.chunk"
_END = b"\r\n0\r\n\r\n"


class Stream:
    """One streamed request: when it was sent and when each chunk arrived."""

    __slots__ = ("sock", "unsent", "sent", "head", "status", "pending", "times", "done", "end")

    def __init__(self, sock: socket.socket, request: bytes) -> None:
        self.sock = sock
        self.unsent = memoryview(request)  # what is left to send of the request
        self.sent = 0.0
        self.head = b""
        self.status = 0
        self.pending = b""
        self.times: list[float] = []
        self.done = False
        self.end: str | None = None  # None while open; "ok" or the reason it failed


def request_bytes(path: str, model: str, key: str, prompt_bytes: int = 0) -> bytes:
    """The raw HTTP/1.1 request of one stream; its prompt padded to `prompt_bytes` if longer."""
    prompt = "Tell me a short story about a fox."
    if prompt_bytes > len(prompt):
        # A long conversation pasted in: the size of what agents and RAG apps send.
        filler = " Here is more context."
        prompt += (filler * (prompt_bytes // len(filler) + 1))[: prompt_bytes - len(prompt)]
    body = json.dumps(
        {
            "model": model,
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": prompt},
            ],
            "stream": True,
            "temperature": 0.7,
        },
        separators=(",", ":"),
    ).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def _receive(stream: Stream, data: bytes, now: float) -> None:
    """Take the bytes of one read: the status line first, then SSE events."""
    if not stream.status:
        stream.head += data
        cut = stream.head.find(b"\r\n\r\n")
        if cut < 0:
            return
        stream.status = int(stream.head.split(b" ", 2)[1])
        data, stream.head = stream.head[cut + 4 :], b""
    stream.pending += data
    last = stream.pending.rfind(b"\n\n")
    if last >= 0:
        complete = stream.pending[: last + 2]
        stream.pending = stream.pending[last + 2 :]
        stream.times.extend([now] * complete.count(_CHUNK))
        if b'"error"' in complete:
            stream.end = "error event"
        if b"data: [DONE]" in complete:
            stream.done = True
    if stream.done and stream.pending.endswith(_END) and stream.end is None:
        stream.end = "ok"


def run(args: argparse.Namespace) -> dict:
    """Open every stream, relay events until all ended or the deadline, and summarise."""
    request = request_bytes(args.path, args.model, args.key, args.prompt_bytes)
    epoll = select.epoll()
    streams: dict[int, Stream] = {}
    started = time.perf_counter()
    for _ in range(args.streams):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", args.port))
        streams[sock.fileno()] = Stream(sock, request)
        epoll.register(sock.fileno(), select.EPOLLOUT)
    open_count = len(streams)
    deadline = started + args.timeout
    while open_count and time.perf_counter() < deadline:
        for fd, mask in epoll.poll(0.5):
            stream = streams[fd]
            now = time.perf_counter()
            if stream.unsent:
                if mask & (select.EPOLLERR | select.EPOLLHUP):
                    stream.end = "connect failed"
                else:
                    stream.sent = stream.sent or now
                    try:
                        stream.unsent = stream.unsent[stream.sock.send(stream.unsent) :]
                    except (BlockingIOError, InterruptedError):
                        pass
                    if not stream.unsent:
                        epoll.modify(fd, select.EPOLLIN)
                    continue
            else:
                try:
                    data = stream.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    _receive(stream, data, now)
                elif stream.end is None:
                    stream.end = "ok" if stream.done else "closed early"
            if stream.end is not None:
                epoll.unregister(fd)
                stream.sock.close()
                open_count -= 1
    for stream in streams.values():
        if stream.end is None:
            stream.end = "timed out"
            stream.sock.close()
    return summarise(list(streams.values()), args.chunks, args.interval, started)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _peak(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant."""
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def summarise(streams: list[Stream], chunks: int, interval: float, started: float) -> dict:
    """Failures, time to first token, chunk gaps and lag behind the upstream's schedule (ms)."""
    failures: dict[str, int] = {}
    ttft, gaps, lags, durations, flowing = [], [], [], [], []
    for stream in streams:
        reason = stream.end
        if reason == "ok" and stream.status != 200:
            reason = f"status {stream.status}"
        elif reason == "ok" and len(stream.times) != chunks:
            reason = "wrong chunk count"
        if reason != "ok":
            failures[reason] = failures.get(reason, 0) + 1
        if not stream.times:
            continue
        first = stream.times[0]
        ttft.append((first - stream.sent) * 1000)
        gaps += [(b - a) * 1000 for a, b in zip(stream.times, stream.times[1:], strict=False)]
        lags += [(t - first - i * interval) * 1000 for i, t in enumerate(stream.times)]
        durations.append((stream.times[-1] - first) * 1000)
        flowing.append((first, stream.times[-1]))
    last = max((t for s in streams for t in s.times[-1:]), default=started)
    return {
        "streams": len(streams),
        "ok": sum(1 for s in streams if s.end == "ok" and s.status == 200),
        "failures": failures,
        "chunks_received": sum(len(s.times) for s in streams),
        "peak_flowing": _peak(flowing),
        "wall_s": round(last - started, 3),
        "ttft_ms": {q: _pct(ttft, q) for q in (50, 99)},
        "ttft_mean_ms": statistics.fmean(ttft) if ttft else None,
        "gap_ms": {q: _pct(gaps, q) for q in (50, 99)},
        "gap_max_ms": max(gaps, default=None),
        "lag_ms": {q: _pct(lags, q) for q in (50, 99)},
        "duration_ms": {q: _pct(durations, q) for q in (50, 99)},
    }


def main() -> None:
    """Parse arguments, run, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--key", default="none")
    parser.add_argument("--model", default="bench-model")
    parser.add_argument("--path", default="/v1/chat/completions")
    parser.add_argument("--chunks", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--prompt-bytes", type=int, default=0, help="pad the prompt to this")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(json.dumps(run(args)), flush=True)


if __name__ == "__main__":
    main()
