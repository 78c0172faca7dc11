"""Pooled upstream HTTP: timeouts, error mapping, streamed reads that never wait for the end."""

from __future__ import annotations

import gzip

import pytest
import requests
from urllib3.exceptions import ReadTimeoutError

from app.backends.http import UpstreamHTTP
from app.backends.upstream_status import passed_headers, status_error
from app.errors import UpstreamError, UpstreamTimeoutError
from tests.support.openai_upstream import trickle

BASE = "http://upstream.test/v1"


@pytest.fixture
def http():
    client = UpstreamHTTP("up", BASE + "/", {"connect_timeout": 2, "read_timeout": 30})
    yield client
    client.close()


def test_paths_and_full_urls_with_explicit_timeouts(http, upstream):
    upstream.get(BASE + "/models", json={})
    upstream.get("http://other.test/x", json={})
    http.request("GET", "/models")
    http.request("GET", "http://other.test/x", timeout=(1.0, 3.0))
    assert upstream.calls[0].request.req_kwargs["timeout"] == (2.0, 30.0)
    assert upstream.calls[1].request.req_kwargs["timeout"] == (1.0, 3.0)


def test_redirects_are_not_followed(http, upstream):
    upstream.get(BASE + "/moved", status=302, headers={"Location": "http://elsewhere.test/"})
    assert http.request("GET", "/moved").status_code == 302
    assert len(upstream.calls) == 1


def test_session_ignores_proxy_environment_and_names_the_gateway(http):
    assert http.session.trust_env is False
    assert http.session.headers["User-Agent"].startswith("openai-gateway/")


@pytest.mark.parametrize(
    ("exception", "kind", "status"),
    [
        (requests.ConnectTimeout(), UpstreamTimeoutError, 504),
        (requests.ReadTimeout(), UpstreamTimeoutError, 504),
        (requests.ConnectionError(ReadTimeoutError(None, None, "x")), UpstreamTimeoutError, 504),
        (requests.ConnectionError(), UpstreamError, 502),
        (requests.exceptions.SSLError(), UpstreamError, 502),
        (requests.exceptions.ChunkedEncodingError(), UpstreamError, 502),
    ],
)
def test_transport_errors_are_mapped_once_and_retryable(http, upstream, exception, kind, status):
    upstream.get(BASE + "/models", body=exception)
    with pytest.raises(kind) as info:
        http.request("GET", "/models")
    assert info.value.status == status
    assert info.value.retryable
    assert info.value.__cause__ is exception


def test_a_body_without_chunked_encoding_is_yielded_read_by_read(http, upstream):
    body = trickle([b"first", b"second", b"third"])
    upstream.get(BASE + "/stream", body=body)
    pieces = http.iter_bytes(http.request("GET", "/stream", stream=True))
    assert next(pieces) == b"first"
    assert body.raw.pieces == [b"second", b"third"]  # nothing read ahead
    assert list(pieces) == [b"second", b"third"]


def test_a_compressed_streamed_body_is_decoded(http, upstream):
    data = b"data: " + b"x" * 5000 + b"\n\n"
    upstream.get(BASE + "/gz", body=gzip.compress(data), headers={"Content-Encoding": "gzip"})
    response = http.request("GET", "/gz", stream=True)
    response.raw.decode_content = False  # as requests' adapter leaves a real response
    assert b"".join(http.iter_bytes(response)) == data


@pytest.mark.parametrize(
    ("failure", "kind"),
    [(lambda: TimeoutError("t"), UpstreamTimeoutError), (lambda: OSError("reset"), UpstreamError)],
)
def test_read_failures_while_streaming_become_api_errors(http, upstream, failure, kind):
    upstream.get(BASE + "/stream", body=trickle([b"partial"], failure))
    pieces = http.iter_bytes(http.request("GET", "/stream", stream=True))
    assert next(pieces) == b"partial"
    with pytest.raises(kind):
        next(pieces)


def test_read_body_maps_failures(http, upstream):
    upstream.get(BASE + "/err", body=trickle([b"{"], lambda: OSError("reset")), status=500)
    response = http.request("GET", "/err", stream=True)
    with pytest.raises(UpstreamError, match="closed the connection"):
        http.read_body(response)


@pytest.mark.parametrize(
    "kwargs", [{"data": b'{"p":"' + b"x" * 5000 + b'"}'}, {"json_body": {"p": "x"}}]
)
def test_a_stream_sends_its_whole_body_and_then_lets_it_go(http, upstream, kwargs):
    upstream.post(BASE + "/s", body=b"data: [DONE]\n\n", content_type="text/event-stream")
    upstream.post(BASE + "/c", json={})
    streamed = http.request("POST", "/s", stream=True, **kwargs)
    whole = http.request("POST", "/c", **kwargs)
    sent = upstream.calls[0].request.body
    assert sent and sent == upstream.calls[1].request.body
    assert streamed.request.body is None and whole.request.body == sent
    assert streamed.request.headers["Content-Length"] == str(len(sent))
    assert b"".join(http.iter_bytes(streamed)) == b"data: [DONE]\n\n"


def test_passed_headers_keep_only_rate_limit_and_retry_headers(upstream, http):
    headers = {
        "Retry-After": "2",
        "retry-after-ms": "1500",
        "X-RateLimit-Limit": "10",
        "Server": "x",
    }
    upstream.get(BASE + "/h", headers=headers)
    assert passed_headers(http.request("GET", "/h")) == {
        "Retry-After": "2",
        "retry-after-ms": "1500",
        "X-RateLimit-Limit": "10",
    }


@pytest.mark.parametrize(
    ("status", "expected_status", "expected_type", "retryable"),
    [
        (400, 400, "invalid_request_error", False),
        (404, 404, "invalid_request_error", False),
        (408, 408, "invalid_request_error", False),
        (429, 429, "requests", True),
        (500, 502, "server_error", True),
        (503, 502, "server_error", True),
        (302, 502, "server_error", True),
    ],
)
def test_status_error(status, expected_status, expected_type, retryable):
    error = status_error(status, "m")
    assert (error.status, error.type, error.retryable) == (
        expected_status,
        expected_type,
        retryable,
    )
