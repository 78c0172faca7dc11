"""A kept-alive upstream connection closed just as it is reused: the request is sent once more
on a new connection, and only when no byte of an answer came (a scripted server on real
sockets; a `None` step closes the connection once the request has arrived)."""

from __future__ import annotations

import socket
import struct
import threading

import pytest

from app.backends import connections
from app.backends.http import UpstreamHTTP
from app.errors import UpstreamError
from tests.support.scripted_upstream import ok

CLOSE = [(None, 0.0)]


def second_request_error(http: UpstreamHTTP) -> str | None:
    """The error code of a second request, after a first one that was answered."""
    http.request("POST", "/c", data=b"{}")
    with pytest.raises(UpstreamError) as caught:
        http.request("POST", "/c", data=b"{}")
    return caught.value.code


def test_a_reused_connection_closed_without_an_answer_is_replaced_at_once(scripted_http):
    server, http = scripted_http([(ok(b"first"), 0)], CLOSE, [(ok(b"second"), 0)])
    assert http.request("POST", "/c", data=b"{}").content == b"first"
    response = http.request("POST", "/c", data=b'{"n":2}')
    assert (response.status_code, response.content) == (200, b"second")
    assert server.connections == 2 and not server.scripts


def test_the_new_connection_is_kept_for_the_requests_after(scripted_http):
    server, http = scripted_http(
        [(ok(b"first"), 0)], CLOSE, [(ok(b"second"), 0)], [(ok(b"third"), 0)]
    )
    http.request("POST", "/c", data=b"{}")
    assert http.request("POST", "/c", data=b"{}").content == b"second"
    assert http.request("POST", "/c", data=b"{}").content == b"third"
    assert server.connections == 2 and not server.scripts


def test_a_close_long_after_the_request_is_not_taken_for_a_stale_connection(
    scripted_http, monkeypatch
):
    # The upstream had the request for a while, then died: sending it again could run it twice.
    monkeypatch.setattr(connections, "STALE_WINDOW", 0.1)
    server, http = scripted_http([(ok(b"first"), 0)], [(None, 0.4)], [(ok(b"unused"), 0)])
    assert second_request_error(http) == "upstream_disconnected"
    assert len(server.scripts) == 1


def test_a_streamed_request_is_sent_again_the_same_way(scripted_http):
    events = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\ndata: [DONE]\n\n"
    server, http = scripted_http([(ok(b"first"), 0)], CLOSE, [(events, 0)])
    http.request("POST", "/c", data=b"{}")
    response = http.request("POST", "/c", data=b"{}", stream=True)
    assert b"".join(http.iter_bytes(response)) == b"data: [DONE]\n\n"


def test_a_new_connection_closed_without_an_answer_is_not_sent_again(scripted_http):
    server, http = scripted_http(CLOSE, [(ok(b"unused"), 0)])
    with pytest.raises(UpstreamError) as caught:
        http.request("POST", "/c", data=b"{}")
    assert caught.value.code == "upstream_disconnected"
    assert len(server.scripts) == 1


def test_a_connection_closed_after_part_of_the_answer_is_not_sent_again(scripted_http):
    server, http = scripted_http([(ok(b"first"), 0)], [(b"HTTP/1.", 0), (None, 0)], CLOSE)
    assert second_request_error(http) == "upstream_bad_response"
    assert len(server.scripts) == 1


def test_the_request_is_sent_again_only_once(scripted_http):
    server, http = scripted_http([(ok(b"first"), 0)], CLOSE, CLOSE, [(ok(b"unused"), 0)])
    assert second_request_error(http) == "upstream_disconnected"
    assert len(server.scripts) == 1


def test_a_reset_instead_of_a_close_is_sent_again_too():
    # The upstream resets the kept-alive connection (RST) when the next request arrives.
    listener = socket.create_server(("127.0.0.1", 0))
    requests_seen: list[int] = []

    def run() -> None:
        for serial in range(2):
            conn, _ = listener.accept()
            with conn:
                for _ in range(2 - serial):  # the first connection gets two requests
                    conn.recv(65536)
                    requests_seen.append(serial)
                    if serial == 0 and len(requests_seen) == 2:
                        conn.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        break
                    conn.sendall(ok(b"from %d" % serial))

    threading.Thread(target=run, daemon=True).start()
    http = UpstreamHTTP("up", f"http://127.0.0.1:{listener.getsockname()[1]}", {"read_timeout": 5})
    try:
        assert http.request("POST", "/c", data=b"{}").content == b"from 0"
        assert http.request("POST", "/c", data=b"{}").content == b"from 1"
        assert requests_seen == [0, 0, 1]
    finally:
        http.close()
        listener.close()
