"""Reading upstream bodies off a real socket: framing, cut bodies, stalls and connection reuse.

A scripted server on 127.0.0.1 (`tests.support.scripted_upstream`) writes exact bytes, so
that chunk boundaries, a body cut short of its Content-Length or a stall happen on the wire,
where the read path meets them.
"""

from __future__ import annotations

import io
import socket
import sys

import pytest

from app.backends.http import UpstreamHTTP
from app.backends.upstream_status import passed_headers
from app.errors import UpstreamError, UpstreamTimeoutError
from tests.support.scripted_upstream import CHUNKED, chunk


def test_each_chunk_is_yielded_as_it_arrives(serve):
    events = [b'data: {"n":%d}\n\n' % n for n in range(3)]
    script = [(CHUNKED, 0), *[(chunk(e), 0.05) for e in events], (b"0\r\n\r\n", 0)]
    http = serve(script)
    response = http.request("POST", "/s", data=b"{}", stream=True)
    assert list(http.iter_bytes(response)) == events


def test_a_streamed_body_read_to_its_end_frees_the_connection_for_the_next_request(serve):
    script = [(CHUNKED + chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n", 0)]
    http = serve(script, list(script))
    for _ in range(2):
        response = http.request("POST", "/s", data=b"{}", stream=True)
        assert b"".join(http.iter_bytes(response)) == b"data: [DONE]\n\n"
        response.close()
    assert _connections(http) == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\ndata: [DONE]\n\n",
        CHUNKED + chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n",
    ],
    ids=["content-length", "chunked"],
)
def test_a_connection_back_in_the_pool_serves_the_next_request_before_the_stream_closes(
    serve, answer
):
    # Under gevent another request may take the connection between the stream's last read and
    # its close: the connection must be ready then (http.client left a Content-Length answer
    # open, and the next request on it failed as "not valid HTTP").
    http = serve([(answer, 0)], [(answer, 0)])
    first = http.request("POST", "/s", data=b"{}", stream=True)
    assert b"".join(http.iter_bytes(first)) == b"data: [DONE]\n\n"
    second = http.request("POST", "/s", data=b"{}")
    assert second.content == b"data: [DONE]\n\n"
    first.close()
    assert _connections(http) == 1


def test_a_stream_finished_after_its_last_event_leaves_its_connection_ready(serve):
    # The relay's way to end a stream at [DONE] (upstream_body.finish), same requirement.
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\ndata: [DONE]\n\n"
    http = serve([(answer, 0)], [(answer, 0)])
    first = http.request("POST", "/s", data=b"{}", stream=True)
    reads = http.iter_bytes(first)
    assert next(reads) == b"data: [DONE]\n\n"
    http.finish(first, reads)
    assert http.request("POST", "/s", data=b"{}").content == b"data: [DONE]\n\n"
    first.close()
    assert _connections(http) == 1


def _connections(http: UpstreamHTTP) -> int:
    pool = next(iter(http.session.get_adapter("http://x")._pools.values()))
    return pool.num_connections


def test_a_body_cut_short_of_its_content_length_is_a_disconnect(serve):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    http = serve([(head + b'{"choices":', 0), (None, 0)])
    with pytest.raises(UpstreamError) as caught:
        http.request("POST", "/c", data=b"{}")
    assert caught.value.code == "upstream_disconnected"
    assert caught.value.retryable


def test_a_chunked_body_cut_mid_chunk_is_a_disconnect(serve):
    http = serve([(CHUNKED + b"40\r\ndata: {", 0), (None, 0)])
    response = http.request("POST", "/s", data=b"{}", stream=True)
    with pytest.raises(UpstreamError) as caught:
        list(http.iter_bytes(response))
    response.close()
    assert caught.value.code == "upstream_disconnected"


def test_a_stream_that_stalls_past_the_read_timeout_is_a_timeout(serve):
    http = serve([(CHUNKED + chunk(b"data: {}\n\n"), 0), (b"", 5)], read_timeout=0.3)
    response = http.request("POST", "/s", data=b"{}", stream=True)
    reads = http.iter_bytes(response)
    assert next(reads) == b"data: {}\n\n"
    with pytest.raises(UpstreamTimeoutError, match="stopped sending data"):
        next(reads)
    response.close()


def test_a_whole_answer_is_read_through_the_same_path(serve):
    answer = b'{"choices":[]}' * 1000
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    http = serve([(head % len(answer) + answer[:7000], 0), (answer[7000:], 0.05)])
    assert http.request("POST", "/c", data=b"{}").content == answer


def test_upstream_responses_read_through_a_small_buffer(serve):
    # A held stream keeps its reader for its whole life: 2 KiB, not io's default 8 KiB.
    http = serve([(CHUNKED + chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n", 0)])
    response = http.request("POST", "/s", data=b"{}", stream=True)
    buffer = sys.getsizeof(response.raw._fp.fp) - sys.getsizeof(io.BufferedReader(io.BytesIO(), 1))
    assert b"".join(http.iter_bytes(response)) == b"data: [DONE]\n\n"
    assert buffer < 4096


def test_headers_and_events_larger_than_the_buffer_arrive_whole(serve):
    head = CHUNKED.replace(b"\r\n\r\n", b"\r\n" + b"x-long: %s\r\n\r\n" % (b"h" * 6000))
    event = b'data: {"text":"%s"}\n\n' % (b"e" * 20000)
    http = serve([(head, 0), (chunk(event), 0.02), (b"0\r\n\r\n", 0)])
    response = http.request("POST", "/s", data=b"{}", stream=True)
    assert response.headers["x-long"] == "h" * 6000
    assert b"".join(http.iter_bytes(response)) == event


def test_a_stream_keeps_no_reference_to_its_request_body(serve):
    # A stream lasts as long as its answer; a long prompt must not stay in memory that long.
    http = serve([(CHUNKED, 0), (chunk(b"data: [DONE]\n\n"), 0.05), (b"0\r\n\r\n", 0)])
    prompt = b'{"messages":"' + b"x" * 100_000 + b'"}'
    references = sys.getrefcount(prompt)
    response = http.request("POST", "/s", data=prompt, stream=True)
    assert sys.getrefcount(prompt) == references
    assert response.request.body is None
    assert response.request.headers["Content-Length"] == str(len(prompt))
    assert b"".join(http.iter_bytes(response)) == b"data: [DONE]\n\n"


def test_a_stream_line_over_the_limit_fails_on_the_wire_and_short_lines_do_not(serve):
    # Sent at once: the server is done writing when the gateway gives up on the stream.
    long_line = [(chunk(b"data: " + b"x" * 400) * 3, 0)]
    short_lines = [(chunk(b"data: " + b"y" * 90 + b"\n"), 0) for _ in range(20)]
    http = serve(
        [(CHUNKED, 0), *long_line, (b"0\r\n\r\n", 0)],
        [(CHUNKED, 0), *short_lines, (b"0\r\n\r\n", 0)],
        max_response_bytes=1000,
    )
    response = http.request("POST", "/s", data=b"{}", stream=True)
    with pytest.raises(UpstreamError) as caught:
        list(http.iter_bytes(response))
    response.close()
    assert caught.value.code == "upstream_response_too_large"
    response = http.request("POST", "/s", data=b"{}", stream=True)
    assert len(b"".join(http.iter_bytes(response))) == 1940


def test_repeated_upstream_headers_are_read_case_insensitively_and_joined(serve):
    head = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 2\r\nX-RateLimit-Limit: 10\r\n"
    head += b"x-ratelimit-limit: 20\r\nRetry-After: 3\r\n\r\n{}"
    response = serve([(head, 0)]).request("POST", "/c", data=b"{}")
    assert response.headers["X-RATELIMIT-LIMIT"] == "10, 20"
    assert response.headers.get("retry-after") == "3" and "content-length" in response.headers
    assert passed_headers(response) == {"X-RateLimit-Limit": "10, 20", "Retry-After": "3"}


def test_an_upstream_that_closes_before_answering_is_a_disconnect_not_unreachable(serve):
    http = serve([(None, 0)])
    with pytest.raises(UpstreamError) as caught:
        http.request("POST", "/c", data=b"{}")
    assert caught.value.code == "upstream_disconnected" and caught.value.retryable
    assert "closed the connection without answering" in caught.value.message


def test_an_upstream_that_refuses_the_connection_is_unreachable(serve):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    http = UpstreamHTTP("up", f"http://127.0.0.1:{port}", {})
    try:
        with pytest.raises(UpstreamError) as caught:
            http.request("POST", "/c", data=b"{}")
    finally:
        http.close()
    assert caught.value.code == "upstream_unreachable" and caught.value.retryable


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 101 + b"Content-Length: 2\r\n\r\n{}",
    ],
    ids=["status-line", "header-line-too-long", "too-many-headers"],
)
def test_an_answer_that_is_not_http_is_a_bad_response_not_a_disconnect(serve, answer):
    http = serve([(answer, 0), (None, 0)])
    with pytest.raises(UpstreamError) as caught:
        http.request("POST", "/c", data=b"{}")
    error = caught.value
    assert (error.status, error.code, error.retryable) == (502, "upstream_bad_response", True)
    assert error.message == "Upstream `up` sent an answer that is not valid HTTP."
