"""gunicorn responses written with the head in the first send: same bytes, fewer sends."""

from __future__ import annotations

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from app import response_writer
from app.response_writer import CoalescingResponse
from tests.support.sockets import RecordingSocket


def request(method: str = "GET", version: str = "1.1"):
    raw = f"{method} /v1/models HTTP/{version}\r\nHost: gateway.test\r\n\r\n".encode()
    return next(RequestParser(Config(), iter([raw]), ("127.0.0.1", 5000)))


def respond(cls, req, status, headers, parts, sock):
    resp = cls(req, sock, Config())
    resp.start_response(status, headers)
    for part in parts:
        resp.write(part)
    resp.close()
    return sock


def both(req_args, status, headers, parts, accept=None):
    """What gunicorn's own Response and CoalescingResponse send for the same answer."""
    stock = respond(wsgi.Response, request(*req_args), status, headers, parts, RecordingSocket())
    ours = respond(
        CoalescingResponse, request(*req_args), status, headers, parts, RecordingSocket(accept)
    )
    # The Date header may differ by a second between the two.
    return _undated(stock.sent()), _undated(ours.sent()), ours


def _undated(data: bytes) -> bytes:
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.startswith(b"Date: ")]
    return b"\r\n".join(lines) + sep + body


def test_a_json_answer_is_one_send_with_the_same_bytes():
    body = b'{"object":"list","data":[]}'
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    stock, ours, sock = both((), "200 OK", headers, [body])
    assert ours == stock
    assert [kind for kind, _ in sock.calls] == ["send"]
    assert sock.calls[0][1].endswith(b"\r\n\r\n" + body)


def test_a_stream_sends_its_head_with_the_first_event_and_frames_the_rest():
    events = [b"data: {}\n\n", b"data: [DONE]\n\n"]
    stock, ours, sock = both((), "200 OK", [("Content-Type", "text/event-stream")], events)
    assert ours == stock
    assert b"Transfer-Encoding: chunked" in ours
    assert len(sock.calls) == 3  # head + first event, second event, end of the body
    assert sock.calls[0][1].endswith(b"\r\n\r\nA\r\ndata: {}\n\n\r\n")
    assert sock.calls[2][1] == b"0\r\n\r\n"


def test_an_empty_first_part_still_sends_the_head_at_once():
    sock = RecordingSocket()
    resp = CoalescingResponse(request(), sock, Config())
    resp.start_response("200 OK", [("Content-Type", "text/event-stream")])
    resp.write(b"")
    assert sock.sent().startswith(b"HTTP/1.1 200 OK\r\n")
    assert sock.sent().endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("req_args", "status", "parts"),
    [
        (("HEAD",), "200 OK", [b"ignored"]),
        ((), "204 No Content", []),
        ((), "200 OK", []),
        (("GET", "1.0"), "200 OK", [b"old client"]),
    ],
)
def test_answers_without_a_body_or_framing_match_gunicorn(req_args, status, parts):
    stock, ours, _ = both(req_args, status, [("Content-Type", "application/json")], parts)
    assert ours == stock


def test_what_one_send_does_not_take_goes_out_with_sendall():
    body = b"x" * 5000
    headers = [("Content-Length", str(len(body)))]
    stock, ours, sock = both((), "200 OK", headers, [body], accept=100)
    assert ours == stock
    assert [kind for kind, _ in sock.calls] == ["send", "sendall"]


def test_install_replaces_the_class_gunicorn_builds_responses_with():
    class Module:
        Response = wsgi.Response

    response_writer.install(Module)
    assert Module.Response is CoalescingResponse
