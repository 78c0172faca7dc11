"""The gateway's upstream connections: what they send in one go, and how they check a pool."""

from __future__ import annotations

import socket

import pytest

from app.backends import connections
from app.backends.connections import POOL_CLASSES
from tests.support.sockets import RecordingSocket


def connection(sock: RecordingSocket):
    conn = POOL_CLASSES["http"].ConnectionCls("upstream.test", 80)
    conn.sock = sock
    return conn


def test_the_head_and_a_bytes_body_leave_in_one_send():
    sock = RecordingSocket()
    conn = connection(sock)
    conn.request("POST", "/v1/chat/completions", body=b'{"a":1}', headers={"X-Test": "1"})
    assert len(sock.calls) == 1
    kind, data = sock.calls[0]
    assert kind == "send"
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nX-Test: 1" in head and b"\r\nContent-Length: 7" in head
    assert body == b'{"a":1}'


@pytest.mark.parametrize("body", [None, b""])
def test_a_request_without_a_body_sends_its_head(body):
    sock = RecordingSocket()
    connection(sock).request("GET", "/v1/models", body=body)
    assert len(sock.calls) == 1
    assert sock.calls[0][1].startswith(b"GET /v1/models HTTP/1.1\r\n")
    assert sock.calls[0][1].endswith(b"\r\n\r\n")


def test_what_one_send_does_not_take_goes_out_with_sendall():
    sock = RecordingSocket(accept=10)
    connection(sock).request("POST", "/x", body=b"0123456789" * 50)
    assert [kind for kind, _ in sock.calls] == ["send", "sendall"]
    assert sock.sent().endswith(b"\r\n\r\n" + b"0123456789" * 50)


def test_a_body_of_several_parts_is_sent_as_urllib3_frames_it():
    sock = RecordingSocket()
    connection(sock).request("POST", "/x", body=[b"ab", b"cd"], chunked=True)
    sent = sock.sent()
    assert sent.endswith(b"\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in sent


def test_an_unconnected_connection_connects_before_holding(monkeypatch):
    sock = RecordingSocket()
    conn = POOL_CLASSES["http"].ConnectionCls("upstream.test", 80)

    def connect() -> None:
        conn.sock = sock

    monkeypatch.setattr(conn, "connect", connect)
    conn.request("POST", "/x", body=b"{}")
    assert len(sock.calls) == 1 and sock.calls[0][1].endswith(b"\r\n\r\n{}")


@pytest.mark.parametrize("os_poll", [True, False], ids=["os poll", "urllib3's check"])
def test_a_pooled_connection_is_live_until_the_peer_closes_it(monkeypatch, os_poll):
    if not os_poll:
        monkeypatch.setattr(connections, "_POLL", None)
    server = socket.create_server(("127.0.0.1", 0))
    conn = POOL_CLASSES["http"].ConnectionCls("127.0.0.1", server.getsockname()[1])
    try:
        conn.connect()
        peer, _ = server.accept()
        assert conn.is_connected
        peer.close()
        assert not conn.is_connected
    finally:
        conn.close()
        server.close()
