"""Interim 1xx answers from an upstream: skipped before the final one, never left on a pooled
connection for the next request to read (a scripted server on real sockets)."""

from __future__ import annotations

import pytest

from app.errors import UpstreamError
from tests.support.scripted_upstream import ok

EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"


def test_early_hints_are_skipped_and_each_request_reads_its_own_answer(scripted_http):
    # The final answer comes after a pause, as an upstream sends it once it has generated.
    server, http = scripted_http([(EARLY_HINTS, 0), (ok(b"for alice"), 0.2)], [(ok(b"for bob"), 0)])
    alice = http.request("POST", "/c", data=b'{"user":"alice"}')
    bob = http.request("POST", "/c", data=b'{"user":"bob"}')
    assert (alice.status_code, alice.content) == (200, b"for alice")
    assert (bob.status_code, bob.content) == (200, b"for bob")
    assert server.connections == 1  # the connection served both, in step


def test_several_interim_answers_in_one_write_or_apart_are_all_skipped(scripted_http):
    interim = PROCESSING + EARLY_HINTS + b"HTTP/1.1 100 Continue\r\n\r\n"
    _, http = scripted_http([(interim[:30], 0), (interim[30:], 0.05), (ok(b"done"), 0.05)])
    response = http.request("POST", "/c", data=b"{}", stream=True)
    assert response.status_code == 200
    assert b"".join(http.iter_bytes(response)) == b"done"


def test_an_upstream_that_only_sends_interim_answers_is_not_http(scripted_http):
    _, http = scripted_http([(PROCESSING * 100, 0)])
    with pytest.raises(UpstreamError) as caught:
        http.request("POST", "/c", data=b"{}")
    assert caught.value.code == "upstream_bad_response"


def test_switching_protocols_is_final_and_its_connection_is_never_reused(scripted_http):
    upgrade = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    )
    server, http = scripted_http([(upgrade + b"\x81\x05hello", 0)], [(ok(b"next"), 0)])
    switched = http.request("POST", "/c", data=b"{}")
    assert switched.status_code == 101
    following = http.request("POST", "/c", data=b"{}")
    assert (following.status_code, following.content) == (200, b"next")
    assert server.connections == 2
