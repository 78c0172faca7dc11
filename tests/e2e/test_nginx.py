"""nginx (deploy/nginx/gateway.conf.template) in front of a real gunicorn gateway."""

from __future__ import annotations

import http.client
import json
import re
import socket
import statistics
import time
import uuid
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from tests.conftest import CLIENT_KEY
from tests.support import openai_checks as checks
from tests.support.gateway_log import entry_for
from tests.support.nginx import NginxProcess, requires_nginx
from tests.support.servers import free_port, start_gateway
from tests.support.sse import iter_sse

pytestmark = [pytest.mark.slow, requires_nginx]

CHUNK_DELAY = 0.1
MODELS = {
    "backends": {"mock": {"type": "mock", "chunk_delay": CHUNK_DELAY}},
    "models": [{"id": "gpt-4o", "backend": "mock"}],
}
GATEWAY_MAX_BODY = 64 * 1024
NGINX_MAX_BODY = "256k"
# nginx connects to the gateway from this address, so that the gateway can tell it apart from
# the client's 127.0.0.1.
NGINX_SOURCE = "127.0.0.2"
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
PROMPT = [{"role": "user", "content": "Tell me about reverse proxies"}]


def start_pair(tmp, name: str, env: dict[str, str], models: dict[str, Any] = MODELS):
    """A gateway and an nginx in front of it."""
    gateway = start_gateway(
        tmp,
        models,
        env={
            "GATEWAY_API_KEYS": CLIENT_KEY,
            "GATEWAY_MAX_BODY_BYTES": str(GATEWAY_MAX_BODY),
            **env,
        },
    )
    try:
        proxy = NginxProcess(
            tmp / name,
            gateway.port,
            max_body=NGINX_MAX_BODY,
            extra_http=f"    proxy_bind {NGINX_SOURCE};",
        )
    except BaseException:
        gateway.stop()
        raise
    return gateway, proxy


@pytest.fixture(scope="module")
def pair(tmp_path_factory, endless):
    """A gateway that trusts one proxy hop, behind nginx; `endless` is a real `openai` upstream."""
    models = {
        "backends": {
            **MODELS["backends"],
            "endless": {"type": "openai", "base_url": f"{endless.url}/v1"},
        },
        "models": [*MODELS["models"], {"id": "endless", "backend": "endless"}],
    }
    gateway, proxy = start_pair(
        tmp_path_factory.mktemp("nginx"), "trusted", {"TRUST_PROXY_HOPS": "1"}, models
    )
    yield gateway, proxy
    proxy.stop()
    gateway.stop()


def chat_url(proxy) -> str:
    return f"{proxy.url}/v1/chat/completions"


def test_stream_arrives_at_the_upstreams_pace(pair):
    _, proxy = pair
    request = {"model": "gpt-4o", "messages": PROMPT, "stream": True, "max_tokens": 12}
    result = checks.post_sse(chat_url(proxy), request, CLIENT_KEY)
    assert result.status == 200, result.body
    checks.check_chat_sse(result.data, request)
    arrivals = [event.arrived for event in result.events]
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    # Buffered by nginx, the events would arrive together at the end: gaps near zero.
    assert statistics.median(gaps) > 0.5 * CHUNK_DELAY, gaps
    assert arrivals[-1] - arrivals[0] > 0.5 * (arrivals[-1] - result.started)


def test_client_disconnect_at_nginx_closes_the_gateways_stream(pair):
    gateway, proxy = pair
    request = {"model": "gpt-4o", "messages": PROMPT, "stream": True, "max_tokens": 400}
    headers = {**AUTH, "X-Request-ID": "nginx-disconnect-1"}
    with requests.post(
        chat_url(proxy), json=request, headers=headers, stream=True, timeout=30
    ) as r:
        checks.check_chat_chunk(json.loads(next(iter_sse(r)).data))
    deadline = time.monotonic() + 15
    while "stream nginx-disconnect-1 closed before its end" not in gateway.output():
        assert time.monotonic() < deadline, gateway.output()[-3000:]
        time.sleep(0.05)
    # The stream stopped long before its 400 tokens (40 s at the mock's pace).
    entry = entry_for(gateway, "nginx-disconnect-1")
    assert entry["stream"] is True and entry["status"] == 200


def test_client_disconnect_at_nginx_closes_the_openai_upstreams_stream(pair, endless):
    _, proxy = pair
    # The endless upstream names its streams by `user`.
    name = f"nginx-drop-{uuid.uuid4().hex[:8]}"
    request = {"model": "endless", "messages": PROMPT, "stream": True, "user": name}

    def state() -> dict[str, Any]:
        return requests.get(f"{endless.url}/streams/{name}", timeout=5).json()

    with requests.post(chat_url(proxy), json=request, headers=AUTH, stream=True, timeout=30) as r:
        assert r.status_code == 200
        # Kept: a dropped reader closes the connection, and the gateway lets go of the upstream
        # as soon as nginx passes that on.
        events = iter_sse(r)
        checks.check_chat_chunk(json.loads(next(events).data))
        assert state()["state"] == "open"
        events.close()
    # Polled with a deadline generous enough for a slow machine, not a tight timing.
    deadline = time.monotonic() + 20
    while state()["state"] != "closed":
        assert time.monotonic() < deadline, state()
        time.sleep(0.05)


def test_large_bodies_get_openais_413_from_nginx_and_from_the_gateway(pair):
    _, proxy = pair

    def post(size: int) -> requests.Response:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * size}]}
        return requests.post(chat_url(proxy), json=body, headers=AUTH, timeout=30)

    over_gateway = post(2 * GATEWAY_MAX_BODY)
    assert over_gateway.headers["Content-Type"] == "application/json"
    error = checks.check_error(over_gateway.json(), 413)
    assert error.code == "request_too_large" and str(GATEWAY_MAX_BODY) in error.message
    over_nginx = post(1024 * 1024)
    assert over_nginx.headers["Content-Type"] == "application/json"
    error = checks.check_error(over_nginx.json(), 413)
    assert error.code == "request_too_large" and str(GATEWAY_MAX_BODY) not in error.message
    assert over_nginx.headers["X-Request-ID"]


def test_request_id_passes_through_both_ways(pair):
    gateway, proxy = pair
    body = {"model": "gpt-4o", "messages": PROMPT, "max_tokens": 3}
    chosen = requests.post(
        chat_url(proxy), json=body, headers={**AUTH, "X-Request-ID": "client-id-42"}, timeout=30
    )
    assert chosen.status_code == 200 and chosen.headers["X-Request-ID"] == "client-id-42"
    assert entry_for(gateway, "client-id-42")["status"] == 200
    generated = requests.post(chat_url(proxy), json=body, headers=AUTH, timeout=30)
    # Without one, nginx's own $request_id (32 hex digits) is the id everywhere.
    request_id = generated.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id
    assert entry_for(gateway, request_id)["model"] == "gpt-4o"


def test_forwarded_for_reaches_the_app_only_with_trust_proxy_hops(pair, tmp_path):
    trusting_gateway, trusting_proxy = pair
    forged = {**AUTH, "X-Forwarded-For": "198.51.100.23"}
    response = requests.get(
        f"{trusting_proxy.url}/v1/models", headers={**forged, "X-Request-ID": "xff-1"}, timeout=30
    )
    assert response.status_code == 200
    # One trusted hop: the address nginx saw, not nginx's own and not the forged one.
    assert entry_for(trusting_gateway, "xff-1")["client"] == "127.0.0.1"

    gateway, proxy = start_pair(tmp_path, "untrusted", {})
    try:
        response = requests.get(
            f"{proxy.url}/v1/models", headers={**forged, "X-Request-ID": "xff-2"}, timeout=30
        )
        assert response.status_code == 200
        assert entry_for(gateway, "xff-2")["client"] == NGINX_SOURCE
    finally:
        proxy.stop()
        gateway.stop()


def test_unreachable_gateway_is_a_json_502(tmp_path):
    proxy = NginxProcess(tmp_path / "nothing", free_port())
    try:
        response = requests.get(f"{proxy.url}/v1/models", timeout=30)
    finally:
        proxy.stop()
    assert response.headers["Content-Type"] == "application/json"
    assert checks.check_error(response.json(), 502).type == "server_error"


# What the gateway accepts as a client's request id (app.request_context).
WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
ORIGIN = {"Origin": "https://app.example"}


def raw_exchange(proxy, data: bytes) -> requests.Response:
    """Send `data` as is on a new connection and read nginx's answer."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as sock:
        sock.sendall(data)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        response = requests.Response()
        response.status_code = answer.status
        response.headers = CaseInsensitiveDict(answer.getheaders())
        response._content = answer.read()
    return response


def check_nginx_error(
    response: requests.Response, status: int, code: str | None = None, origin: str | None = "*"
):
    """nginx's own answer: OpenAI's envelope, readable cross-origin, with a clean request id.

    `origin` is the Access-Control-Allow-Origin expected: None for a request without Origin.
    """
    assert response.status_code == status, response.content[:300]
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers.get("Access-Control-Allow-Origin") == origin
    exposed = "X-Request-ID" if origin is not None else None
    assert response.headers.get("Access-Control-Expose-Headers") == exposed
    assert WELL_FORMED_ID.fullmatch(response.headers["X-Request-ID"])
    error = checks.check_error(response.json(), status)
    assert error.param is None and error.code == code
    return error


BIG_HEADER = {"X-Request-ID": "<script>alert(1)</script>", "X-Long": "a" * 10_000}


def test_oversized_headers_get_a_json_431_from_nginx(pair):
    _, proxy = pair
    response = requests.get(f"{proxy.url}/v1/models", headers={**ORIGIN, **BIG_HEADER}, timeout=30)
    error = check_nginx_error(response, 431)
    assert "headers are too large" in error.message
    # Not the client's id, which is not well-formed: nginx's own.
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_an_oversized_url_gets_a_json_414_from_nginx(pair):
    _, proxy = pair
    response = requests.get(f"{proxy.url}/v1/models/{'a' * 9000}", headers=ORIGIN, timeout=30)
    # nginx refuses the request line before it reads any header: it never sees the Origin.
    assert "URL is too long" in check_nginx_error(response, 414, origin=None).message


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (b"GARBAGE\r\n\r\n", 400, None),
        (b"GET /v1/models HTTP/1.1\r\n\r\n", 400, None),
        (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            501,
            None,
        ),
        (b"GET /v1/models HTTP/2.0\r\nHost: x\r\n\r\n", 505, None),
        (b"TRACE /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"),
        (b"GET /_nginx_error HTTP/1.1\r\nHost: x\r\n\r\n", 404, None),
    ],
    ids=["garbage", "no-host", "transfer-encoding", "http-2.0", "trace", "error-location"],
)
def test_requests_nginx_refuses_get_json_errors(pair, request_bytes, status, code):
    _, proxy = pair
    # Sent without Origin: no CORS request, so no Access-Control-Allow-Origin.
    check_nginx_error(raw_exchange(proxy, request_bytes), status, code, origin=None)


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_nginxs_404_names_the_method_and_allows_an_origin_only_when_sent(pair, method):
    _, proxy = pair
    url = f"{proxy.url}/_nginx_error"
    plain = requests.request(method, url, timeout=30)
    error = check_nginx_error(plain, 404, origin=None)
    # As the gateway's own 404 words it, with the client's method (not error_page's GET).
    assert error.message == f"Invalid URL ({method} /_nginx_error)"
    cross_origin = requests.request(method, url, headers=ORIGIN, timeout=30)
    assert check_nginx_error(cross_origin, 404).message == error.message


def test_nginxs_413_is_readable_cross_origin_and_never_echoes_a_raw_request_id(pair):
    _, proxy = pair
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 1024 * 1024}]}
    headers = {**AUTH, **ORIGIN, "X-Request-ID": "<script>alert(1)</script>"}
    response = requests.post(chat_url(proxy), json=body, headers=headers, timeout=30)
    check_nginx_error(response, 413, "request_too_large")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_a_malformed_request_id_is_replaced_by_nginxs_own(pair):
    gateway, proxy = pair
    headers = {**AUTH, "X-Request-ID": "bad id <script>"}
    response = requests.get(f"{proxy.url}/v1/models", headers=headers, timeout=30)
    assert response.status_code == 200
    request_id = response.headers["X-Request-ID"]
    # The gateway received and logged nginx's id, the one the client sees.
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id
    assert entry_for(gateway, request_id)["status"] == 200


def test_the_gateways_own_errors_and_cors_headers_pass_unchanged(pair):
    _, proxy = pair
    missing = requests.get(f"{proxy.url}/v1/nope", headers={**AUTH, **ORIGIN}, timeout=30)
    assert missing.status_code == 404
    assert checks.check_error(missing.json(), 404).message == "Invalid URL (GET /v1/nope)"
    wrong_method = requests.delete(f"{proxy.url}/v1/models", headers=ORIGIN, timeout=30)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"]
    assert checks.check_error(wrong_method.json(), 405).code == "method_not_allowed"
    for response in (missing, wrong_method):
        # The gateway's CORS headers, once: nginx adds none of its own to proxied answers.
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        exposed = response.headers["Access-Control-Expose-Headers"].lower()
        assert "x-request-id" in exposed and "retry-after" in exposed


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example", "https://app.example"),
        ("https://OTHER.example:8443", "https://OTHER.example:8443"),
        ("https://evil.example", None),
        ("https://app.example.evil.example", None),
        ("https://evil.example,https://app.example", None),
        (None, None),
    ],
)
def test_nginxs_errors_allow_only_the_configured_origins(tmp_path, origin, allowed):
    proxy = NginxProcess(
        tmp_path / "origins",
        free_port(),
        cors_origins="https://app.example, https://other.example:8443",
    )
    headers = {"Origin": origin} if origin else {}
    try:
        unreachable = requests.get(f"{proxy.url}/v1/models", headers=headers, timeout=30)
        too_large = requests.get(
            f"{proxy.url}/v1/models", headers={**headers, **BIG_HEADER}, timeout=30
        )
    finally:
        proxy.stop()
    for response, status in ((unreachable, 502), (too_large, 431)):
        assert response.status_code == status
        assert response.headers.get("Access-Control-Allow-Origin") == allowed
        checks.check_error(response.json(), status)
