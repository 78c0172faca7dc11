"""Request edges through a real gunicorn gateway.

Routed model ids no header can carry as they are, chunked bodies over the limit,
Content-Encoding, deep nesting and doubled slashes.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import time
from typing import Any

import httpx
import pytest

from tests.conftest import MOCK_MODELS
from tests.support.openai_checks import check_error
from tests.support.servers import start_gateway

pytestmark = pytest.mark.slow

KEY = "sk-e2e-request-edges"
LIMIT = 1 << 20
BODY = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
# Routed by `mock/*`; gunicorn refuses non-Latin-1 header values, werkzeug line breaks.
ODD_IDS = [
    ("mock/模型", "mock/%E6%A8%A1%E5%9E%8B"),
    ("mock/\u2028x", "mock/%E2%80%A8x"),
    ("mock/a\nb", "mock/a%0Ab"),
    ("mock/café", "mock/caf%C3%A9"),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """A gateway with the mock behind `mock/*`, one key and a 1 MiB body limit."""
    env = {"GATEWAY_API_KEYS": KEY, "GATEWAY_MAX_BODY_BYTES": str(LIMIT), "LOG_LEVEL": "INFO"}
    server = start_gateway(tmp_path_factory.mktemp("request_edges"), MOCK_MODELS, env=env)
    yield server
    server.stop()


@pytest.fixture
def http(gateway):
    """An httpx client on the gateway with the key."""
    with httpx.Client(
        base_url=gateway.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30
    ) as client:
        yield client


def active_streams(http: httpx.Client) -> float:
    text = http.get("/metrics").text
    match = re.search(r"^gateway_active_streams (\S+)$", text, re.M)
    assert match, text[:500]
    return float(match.group(1))


def raw_exchange(gateway, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` on a fresh connection; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while True:
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = re.search(rb"(?im)^content-length: *(\d+)", head)
                if length and len(rest) >= int(length.group(1)):
                    break
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, rest


def chunked_request(body: bytes, path: str = "/v1/chat/completions", chunk: int = 4096) -> bytes:
    """A POST of `body` with Transfer-Encoding: chunked, in `chunk`-byte chunks."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
    )
    parts = [head.encode()]
    for start in range(0, len(body), chunk):
        piece = body[start : start + chunk]
        parts.append(b"%x\r\n%s\r\n" % (len(piece), piece))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def error_of(status: int, body: bytes, expected: int) -> Any:
    assert status == expected, body[:500]
    return check_error(json.loads(body), expected)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("model", "expected"), ODD_IDS)
def test_routed_ids_are_served_with_an_encoded_header(gateway, http, model, expected, stream):
    response = http.post("/v1/chat/completions", json={**BODY, "model": model, "stream": stream})
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-backend"] == expected
    if stream:
        assert response.text.endswith("data: [DONE]\n\n")
    else:
        assert response.json()["model"] == model
    # The request log has its line (written when the response, stream or not, was closed).
    request_id = response.headers["x-request-id"]
    deadline = time.monotonic() + 5
    while request_id not in gateway.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert request_id in gateway.output()


def test_no_stream_is_left_open(http):
    for model, _ in ODD_IDS:
        response = http.post("/v1/chat/completions", json={**BODY, "model": model, "stream": True})
        assert response.status_code == 200
    deadline = time.monotonic() + 5
    while active_streams(http) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert active_streams(http) == 0


def padded(size: int) -> bytes:
    raw = json.dumps(BODY).encode()
    return raw + b" " * (size - len(raw))


@pytest.mark.parametrize("chunk", [4096, LIMIT + 10])
def test_chunked_body_over_the_limit_is_413(gateway, chunk):
    status, _, body = raw_exchange(gateway, chunked_request(padded(LIMIT + 1), chunk=chunk))
    error = error_of(status, body, 413)
    assert (error.code, error.param) == ("request_too_large", None)
    assert f"{LIMIT} bytes" in error.message


def test_chunked_long_prompt_is_413(gateway):
    prompt = json.dumps({**BODY, "messages": [{"role": "user", "content": "a" * LIMIT}]})
    status, _, body = raw_exchange(gateway, chunked_request(prompt.encode()))
    assert error_of(status, body, 413).code == "request_too_large"


def test_chunked_body_at_the_limit_is_served(gateway):
    status, _, body = raw_exchange(gateway, chunked_request(padded(LIMIT)))
    assert status == 200, body[:500]
    assert json.loads(body)["object"] == "chat.completion"


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", True), ("br", False)])
def test_content_encoding_is_415(http, encoding, compress):
    raw = json.dumps(BODY).encode()
    response = http.post(
        "/v1/chat/completions",
        content=gzip.compress(raw) if compress else raw,
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 415, response.text
    error = check_error(response.json(), 415)
    assert (error.code, error.param) == ("unsupported_media_type", None)
    assert encoding in error.message


def test_nesting_100000_levels_deep_is_nesting_too_deep(http):
    depth = 100_000
    raw = json.dumps(BODY)[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    response = http.post(
        "/v1/chat/completions", content=raw, headers={"Content-Type": "application/json"}
    )
    error = check_error(response.json(), 400)
    assert (error.code, error.param) == ("nesting_too_deep", "x" + "[0]" * 63)


def path_request(path: str, host: str = "evil.example") -> bytes:
    raw = json.dumps(BODY)
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n"
        f"Connection: close\r\n\r\n{raw}"
    ).encode()


@pytest.mark.parametrize("path", ["/v1//chat/completions", "/v1/chat//completions"])
def test_doubled_slash_is_a_404_envelope_without_redirect(gateway, path):
    status, headers, body = raw_exchange(gateway, path_request(path))
    assert "location" not in headers
    assert headers["content-type"] == "application/json"
    error = error_of(status, body, 404)
    assert path in error.message


def test_leading_doubled_slash_is_served(gateway):
    status, headers, body = raw_exchange(gateway, path_request("//v1/chat/completions"))
    assert status == 200, body[:500]
    assert "location" not in headers
    assert json.loads(body)["object"] == "chat.completion"
