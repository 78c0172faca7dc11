"""Property-based garbage at the raw HTTP layer of a real gateway (gunicorn, one worker).

Random request lines, doubled and conflicting headers, broken chunked bodies, bodies shorter
or longer than declared, odd line endings, NUL and non-ASCII bytes. Every request gets an
answer or a closed connection within the client's timeout — never a 5xx, never a hang —
an answer from the gateway itself is the OpenAI envelope, and the worker keeps serving.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import MOCK_MODELS
from tests.support import procinfo
from tests.support.fuzz import FUZZ, VALID
from tests.support.openai_checks import check_error
from tests.support.secret_scan import CLIENT_SECRET
from tests.support.servers import start_gateway

pytestmark = pytest.mark.slow

TIMEOUT = 10.0
STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3}) ", re.M)
BODY = json.dumps(VALID["/v1/chat/completions"]).encode()
# 64 KiB in two chunks: no Content-Length tells the server the body is over its limit.
CHUNKED_OVER_LIMIT = (
    b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/json\r\nAuthorization: Bearer %s\r\n\r\n"
    b"8000\r\n%s\r\n8000\r\n%s\r\n1\r\nx\r\n0\r\n\r\n"
) % (CLIENT_SECRET.encode(), b"x" * 0x8000, b"x" * 0x8000)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, secret_scan):
    """A gateway with the mock model and one client key; bodies up to 64 KiB."""
    env = {"GATEWAY_API_KEYS": CLIENT_SECRET, "GATEWAY_MAX_BODY_BYTES": "65536"}
    server = start_gateway(tmp_path_factory.mktemp("fuzz_http"), MOCK_MODELS, env=env)
    server.worker = procinfo.wait_for_workers(server.proc.pid)[0]
    yield server
    server.stop()
    secret_scan.add("raw HTTP fuzz gateway output", server.output())


token = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
header_value = st.binary(max_size=40) | st.sampled_from(
    [b"", b"application/json", b"chunked", b"0", b"-1", b"99999999999999999999", b"x" * 9000]
)
headers = st.lists(
    st.tuples(
        st.sampled_from(
            [
                b"Content-Length",
                b"Transfer-Encoding",
                b"Content-Type",
                b"Authorization",
                b"Expect",
                b"Connection",
                b"X-Request-ID",
                b"Host",
            ]
        )
        | token.map(str.encode)
        | st.binary(min_size=1, max_size=10),
        header_value,
    ),
    max_size=3,
)


def mostly(valid: st.SearchStrategy, garbage: st.SearchStrategy) -> st.SearchStrategy:
    """`valid` four times in five, so that most requests get past the HTTP parser."""
    return st.integers(0, 4).flatmap(lambda roll: garbage if roll == 0 else valid)


@st.composite
def raw_requests(draw) -> bytes:
    """One request as bytes, from valid to garbage, part by part."""
    method = draw(
        mostly(st.just(b"POST"), st.sampled_from([b"GET", b"PUT"]) | st.binary(max_size=8))
    )
    target = draw(
        mostly(
            st.sampled_from([b"/v1/chat/completions", b"/v1/completions", b"/chat/completions"]),
            st.sampled_from([b"/v1/models", b"/", b"*", b"/%00%ff"]) | st.binary(max_size=30),
        )
    )
    version = draw(mostly(st.just(b"HTTP/1.1"), st.sampled_from([b"HTTP/1.0", b"HTTP/2.0", b""])))
    eol = draw(mostly(st.just(b"\r\n"), st.just(b"\n")))
    body = draw(mostly(st.just(BODY), st.sampled_from([b"", b"{}", BODY[:40]]) | st.binary()))
    lines = [b" ".join(part for part in (method, target, version) if part)]
    if draw(mostly(st.just(True), st.just(False))):
        lines.append(b"Authorization: Bearer " + CLIENT_SECRET.encode())
    if draw(mostly(st.just(True), st.just(False))):
        lines.append(b"Content-Type: application/json")
    framing = draw(
        mostly(
            st.sampled_from(["length", "chunked"]), st.sampled_from(["bad-chunked", "none", "lie"])
        )
    )
    if framing == "length":
        lines.append(b"Content-Length: %d" % len(body))
    elif framing == "lie":
        lines.append(b"Content-Length: %d" % (len(body) + draw(st.integers(-5, 50))))
    elif framing in ("chunked", "bad-chunked"):
        lines.append(b"Transfer-Encoding: chunked")
        if framing == "chunked":
            body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
        else:
            body = draw(st.sampled_from([b"zz\r\n", b"5\r\nab", b"ffffffffffffffff\r\n"])) + body
    lines += [name + b": " + value for name, value in draw(headers)]
    return eol.join(lines) + eol + eol + body


def exchange(gateway, raw: bytes) -> bytes:
    """Send `raw`, end our side, and read until the server closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=TIMEOUT) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may refuse a request before it was all sent
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        except TimeoutError as exc:
            raise AssertionError(f"no answer and no close in {TIMEOUT}s for {raw[:200]!r}") from exc
    return data


# gunicorn answers a request its HTTP parser refuses itself, before the gateway sees it, and closes
# the connection; config/gunicorn.conf.py makes that answer the OpenAI envelope too. Status ->
# gunicorn's reason (it keeps "Bad Request" as the reason of its 501 for an unknown coding).
HTTP_LAYER_REJECTIONS = {
    400: "Bad Request",  # request line, method, version, header, folding, chunked framing
    414: "URI Too Long",
    417: "Expectation Failed",
    431: "Request Header Fields Too Large",
    501: "Bad Request",  # "Unsupported transfer coding" (RFC 9112, 6.1)
}
CONTENT_LENGTH = re.compile(rb"^content-length: *(\d+)\r?$", re.I | re.M)
CONTENT_TYPE = re.compile(rb"^content-type: *([^;\r]*)", re.I | re.M)


def responses(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """Each (status, head, body) in `data`; every answer must be framed by a Content-Length."""
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        status = STATUS.match(head)
        length = CONTENT_LENGTH.search(head)
        assert sep and status and length, f"not an HTTP response: {data[:600]!r}"
        size = int(length.group(1))
        assert len(rest) >= size, f"short body: {data[:600]!r}"
        yield int(status.group(1)), head, rest[:size]
        data = rest[size:]


def check_reply(raw: bytes, data: bytes) -> None:
    """Every answer is JSON, the OpenAI envelope from 400 up; no answer at all is allowed.

    gunicorn's own refusals (a status of HTTP_LAYER_REJECTIONS with Connection: close) end the
    exchange: nothing may follow them.
    """
    answers = list(responses(data))
    for index, (status, head, body) in enumerate(answers):
        where = f"answer {index} ({status}) to {raw[:300]!r}: {head[:300]!r} {body[:300]!r}"
        content_type = CONTENT_TYPE.search(head)
        mimetype = content_type.group(1).strip().lower() if content_type else b""
        assert mimetype == b"application/json", where
        assert status < 500 or status == 501, where
        reply = json.loads(body)
        if status >= 400:
            check_error(reply, status)
        if re.search(rb"^connection: *close\r?$", head, re.I | re.M) and status in (
            HTTP_LAYER_REJECTIONS
        ):
            assert index == len(answers) - 1, f"an answer after gunicorn's refusal: {where}"


def healthy(gateway) -> None:
    response = requests.post(
        f"{gateway.url}/v1/chat/completions",
        data=BODY,
        headers={"Authorization": f"Bearer {CLIENT_SECRET}", "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text


@FUZZ
@given(raw=raw_requests())
def test_raw_requests(gateway, secret_scan, raw):
    data = exchange(gateway, raw)
    secret_scan.add("raw HTTP answer", data)
    check_reply(raw, data)
    healthy(gateway)


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 3\r\n\r\n0\r\n\r\n",
        b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70000,
        CHUNKED_OVER_LIMIT,
        b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n",
    ],
    ids=[
        "two-lengths",
        "chunked-and-length",
        "body-over-limit",
        "chunked-over-limit",
        "long-header",
        "many-headers",
        "nul-in-target",
    ],
)
def test_known_smuggling_and_overflow_shapes(gateway, secret_scan, raw):
    data = exchange(gateway, raw)
    secret_scan.add("raw HTTP answer", data)
    check_reply(raw, data)
    statuses = [int(status) for status in STATUS.findall(data)]
    assert statuses and all(400 <= status < 500 for status in statuses), data[:300]
    healthy(gateway)


def test_a_tls_handshake_is_closed_without_an_answer(gateway):
    data = exchange(gateway, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    assert data == b"" or STATUS.match(data), data[:300]
    healthy(gateway)


def test_the_worker_survived(gateway):
    assert procinfo.children(gateway.proc.pid) == [gateway.worker]
    assert "Traceback" not in gateway.output(), gateway.output()[-3000:]
