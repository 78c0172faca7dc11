"""Keep-alive comments of the response writer: sent on quiet event streams, whole, between
whole events, and never into another write or another kind of answer."""

from __future__ import annotations

import socket
import time

import gevent
import pytest
from gevent import socket as gsocket
from gunicorn.config import Config

from app import response_writer
from app.response_writer import CoalescingResponse
from config import load_settings
from tests.support.sockets import RecordingSocket
from tests.unit.test_response_writer import request

COMMENT = b": keep-alive\n\n"
CHUNK = b"E\r\n: keep-alive\n\n\r\n"


class Raw:
    """The OS socket under gevent's: non-blocking, it takes `accept` bytes or raises `error`."""

    def __init__(self, accept: int | None = None, error: OSError | None = None) -> None:
        self.accept, self.error = accept, error
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> int:
        if self.error is not None:
            raise self.error
        taken = data[: self.accept] if self.accept is not None else data
        self.sent.append(taken)
        return len(taken)


class Stopped:
    """A timer stand-in that records being stopped."""

    stopped = closed = False

    def stop(self) -> None:
        self.stopped = True

    def close(self) -> None:
        self.closed = True


def stream_response(version: str = "1.1", content_type: str = "text/event-stream"):
    sock = RecordingSocket()
    resp = CoalescingResponse(request("GET", version), sock, Config())
    resp.start_response("200 OK", [("Content-Type", content_type)])
    return resp, sock


def test_a_quiet_period_after_a_write_sends_nothing_and_a_whole_quiet_one_a_comment():
    resp, _ = stream_response()
    resp.write(b"data: {}\n\n")
    raw = Raw()
    resp._tick(raw)  # this period saw the write
    assert raw.sent == []
    resp._tick(raw)  # nothing in the whole period since
    assert raw.sent == [CHUNK]
    resp._tick(raw)
    assert raw.sent == [CHUNK, CHUNK]
    resp.write(b"data: {}\n\n")
    resp._tick(raw)
    assert raw.sent == [CHUNK, CHUNK]


def test_an_http_1_0_stream_gets_the_comment_unframed():
    resp, _ = stream_response("1.0")
    resp.write(b"data: {}\n\n")
    raw = Raw()
    resp._tick(raw)
    resp._tick(raw)
    assert raw.sent == [COMMENT]


def test_the_rest_of_a_comment_the_socket_did_not_take_leaves_before_the_next_event():
    resp, sock = stream_response()
    resp.write(b"data: 1\n\n")
    raw = Raw(accept=5)
    resp._tick(raw)
    resp._tick(raw)
    assert raw.sent == [CHUNK[:5]]
    resp._tick(raw)
    resp._tick(raw)  # still pending: no second comment on top
    assert raw.sent == [CHUNK[:5]]
    resp.write(b"data: 2\n\n")
    assert sock.calls[-1][1] == CHUNK[5:] + b"9\r\ndata: 2\n\n\r\n"
    resp.close()
    first, rest = (data for _, data in sock.calls[:1]), sock.calls[1:]
    wire = b"".join(first) + raw.sent[0] + b"".join(data for _, data in rest)
    # What the client reads: whole chunks, the comment between the two events.
    body = wire.partition(b"\r\n\r\n")[2]
    assert body == b"9\r\ndata: 1\n\n\r\n" + CHUNK + b"9\r\ndata: 2\n\n\r\n0\r\n\r\n"


def test_a_client_that_does_not_read_gets_no_comment():
    resp, _ = stream_response()
    resp.write(b"data: {}\n\n")
    raw = Raw(error=BlockingIOError())
    resp._tick(raw)
    resp._tick(raw)
    assert resp._head == b""


def test_a_write_in_progress_is_not_interleaved():
    resp, _ = stream_response()
    resp.write(b"data: {}\n\n")
    resp._tick(Raw())
    resp._writing = True
    raw = Raw()
    resp._tick(raw)
    assert raw.sent == []


def test_a_gone_client_stops_the_timer():
    resp, _ = stream_response()
    resp.write(b"data: {}\n\n")
    resp._beat = timer = Stopped()
    raw = Raw(error=BrokenPipeError())
    resp._tick(raw)
    resp._tick(raw)
    assert timer.stopped and timer.closed and resp._beat is None


def test_closing_the_response_stops_the_timer():
    resp, _ = stream_response()
    resp.write(b"data: {}\n\n")
    resp._beat = timer = Stopped()
    resp.close()
    assert timer.stopped and resp._beat is None


@pytest.mark.parametrize(
    ("keepalive", "content_type", "length", "started"),
    [
        (5.0, "text/event-stream; charset=utf-8", None, True),
        (5.0, "application/json", None, False),
        (0.0, "text/event-stream", None, False),
        # Comments would break the framing of a body with a length.
        (5.0, "text/event-stream", "1", False),
    ],
)
def test_only_event_streams_are_kept_alive(monkeypatch, keepalive, content_type, length, started):
    monkeypatch.setattr(CoalescingResponse, "keepalive", keepalive)
    calls = []
    monkeypatch.setattr(CoalescingResponse, "_start_beat", lambda self: calls.append(self))
    headers = [("Content-Type", content_type)]
    if length is not None:
        headers.append(("Content-Length", length))
    resp = CoalescingResponse(request(), RecordingSocket(), Config())
    resp.start_response("200 OK", headers)
    resp.write(b"x")
    assert bool(calls) is started


def test_install_keeps_comments_off_without_gevent(monkeypatch):
    class Module:
        Response = None

    monkeypatch.setattr(CoalescingResponse, "keepalive", 0.0)
    response_writer.install(Module, keepalive=15)
    assert CoalescingResponse.keepalive == 0.0  # this test process is not monkey-patched


def test_the_timer_in_gevent_s_loop_sends_comments_on_a_real_socket(monkeypatch):
    monkeypatch.setattr(CoalescingResponse, "keepalive", 0.05)
    ours, theirs = socket.socketpair()
    sock = gsocket.socket(fileno=ours.detach())
    resp = CoalescingResponse(request(), sock, Config())
    resp.start_response("200 OK", [("Content-Type", "text/event-stream")])
    resp.write(b"data: {}\n\n")
    theirs.setblocking(False)
    seen, deadline = b"", time.monotonic() + 10
    while seen.count(CHUNK) < 2:
        assert time.monotonic() < deadline, seen
        gevent.sleep(0.05)
        try:
            seen += theirs.recv(4096)
        except BlockingIOError:
            pass
    resp.write(b"data: [DONE]\n\n")
    resp.close()
    assert resp._beat is None
    theirs.setblocking(True)
    seen += theirs.recv(4096)
    body = seen.partition(b"\r\n\r\n")[2]
    assert body.startswith(b"A\r\ndata: {}\n\n\r\n" + CHUNK + CHUNK)
    assert body.endswith(b"E\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")
    sock.close()
    theirs.close()


@pytest.mark.parametrize(("raw", "expected"), [("", 15.0), ("0", 0.0), ("2.5", 2.5)])
def test_the_period_setting(monkeypatch, raw, expected):
    monkeypatch.setenv("STREAM_KEEPALIVE_SECONDS", raw)
    assert load_settings()["STREAM_KEEPALIVE_SECONDS"] == expected


@pytest.mark.parametrize("raw", ["-1", "nan", "inf"])
def test_a_period_that_is_no_number_of_seconds_is_refused_at_start(monkeypatch, raw):
    monkeypatch.setenv("STREAM_KEEPALIVE_SECONDS", raw)
    with pytest.raises(ValueError, match="STREAM_KEEPALIVE_SECONDS must be a number of seconds"):
        load_settings()
