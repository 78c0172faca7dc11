"""The hot-path sender: the same requests as `Session.request`, the same responses as requests'.

A real HTTP server on 127.0.0.1 answers here: the point is what goes over the wire.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from app.backends.http import UpstreamHTTP
from app.backends.prepared import LeanAdapter, NoCookies, PreparedSender


class Recorder(BaseHTTPRequestHandler):
    """Records each request; `/cookie` sets a cookie, `/close` drops the connection after it."""

    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer()

    def do_POST(self) -> None:  # noqa: N802
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {
                "line": self.requestline,
                "headers": [(k, v) for k, v in self.headers.items()],
                "body": body,
                "peer": self.client_address,
            }
        )
        answer = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(answer)))
        if self.path.endswith("/cookie"):
            self.send_header("Set-Cookie", "sid=abc; Path=/")
        self.end_headers()
        self.wfile.write(answer)
        # A keep-alive connection the server closes without saying so, as idle upstreams do.
        self.close_connection = self.path.endswith("/close")

    def log_message(self, *args: Any) -> None:
        return None


class QuietServer(ThreadingHTTPServer):
    """Clients here drop idle keep-alive connections at will; that is not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None


@pytest.fixture(scope="module")
def running_server() -> Iterator[str]:
    httpd = QuietServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server(running_server: str) -> str:
    Recorder.seen = []
    return running_server


def session(adapter: type[HTTPAdapter] = LeanAdapter) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.cookies.set_policy(NoCookies())  # as UpstreamHTTP's sessions
    s.mount("http://", adapter(pool_connections=1, pool_maxsize=4, max_retries=0))
    s.headers["User-Agent"] = "test-gateway/1"
    s.headers["Authorization"] = "Bearer sk-server"
    return s


def wire(request: dict[str, Any]) -> tuple[Any, ...]:
    return request["line"], request["headers"], request["body"]


@pytest.mark.parametrize(
    ("method", "headers", "data"),
    [
        ("POST", {"Content-Type": "application/json"}, b'{"model":"m"}'),
        ("POST", {"Content-Type": "application/json", "Accept-Encoding": "identity"}, b"{}"),
        ("POST", {"Authorization": "Bearer client-key"}, b"x"),
        ("POST", None, None),
        ("POST", {"Authorization": None}, b"{}"),
        ("GET", None, None),
    ],
)
def test_the_same_request_as_session_request(server, method, headers, data):
    s = session()
    sender = PreparedSender(s)
    assert sender.can_send(data, None, None)
    for _ in range(2):  # the second send comes from the cached template
        sender.send(method, server + "/v1/x", data, headers, (5.0, 5.0)).close()
        s.request(method, server + "/v1/x", data=data, headers=headers, stream=True).close()
    first, second, third, fourth = map(wire, Recorder.seen)
    assert first == second == third == fourth


def test_session_headers_changed_later_are_sent(server):
    s = session()
    sender = PreparedSender(s)
    sender.send("POST", server + "/v1/x", b"{}", None, (5.0, 5.0)).close()
    s.headers["X-Extra"] = "1"
    sender.send("POST", server + "/v1/x", b"{}", None, (5.0, 5.0)).close()
    assert ("X-Extra", "1") not in Recorder.seen[0]["headers"]
    assert ("X-Extra", "1") in Recorder.seen[1]["headers"]


def _cookie_headers(seen: dict[str, Any]) -> list[str]:
    return [value for name, value in seen["headers"] if name.lower() == "cookie"]


@pytest.mark.parametrize(
    "body",
    [
        {"data": b"{}"},  # the PreparedSender fast path
        {"json_body": {"a": 1}},  # Session.request
    ],
)
def test_a_cookie_the_upstream_sets_for_one_client_never_reaches_the_next(server, body):
    # As with `forward_client_key`: each client's own key, one session for all of them.
    http = UpstreamHTTP("up", server + "/v1", {})
    alice, bob = {"Authorization": "Bearer sk-alice"}, {"Authorization": "Bearer sk-bob"}
    try:
        first = http.request("POST", "/cookie", headers=alice, **body)
        http.request("POST", "/x", headers=bob, **body)
        http.request("POST", "/x", headers=alice, **body)
    finally:
        http.close()
    assert ("Authorization", "Bearer sk-bob") in Recorder.seen[1]["headers"]
    assert [_cookie_headers(seen) for seen in Recorder.seen] == [[], [], []]
    assert not http.session.cookies
    assert first.cookies.get("sid") == "abc"  # the response itself still tells what was set


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": None, "json_body": {"a": 1}, "params": None},
        {"data": b"{}", "json_body": None, "params": {"a": "1"}},
        {"data": "text", "json_body": None, "params": None},
    ],
)
def test_other_calls_take_session_request(kwargs):
    assert not PreparedSender(session()).can_send(**kwargs)


def test_session_auth_hooks_and_proxies_take_session_request():
    for change in (
        lambda s: setattr(s, "auth", ("user", "pass")),
        lambda s: s.hooks["response"].append(lambda r, **kw: r),
        lambda s: s.proxies.update({"http": "http://proxy.test:3128"}),
        lambda s: setattr(s, "trust_env", True),
    ):
        s = session()
        change(s)
        assert not PreparedSender(s).can_send(b"{}", None, None)


def test_lean_responses_are_requests_own(server):
    lean, plain = session(LeanAdapter), session(HTTPAdapter)
    for path in ("/v1/cookie", "/v1/x"):
        got = [s.post(server + path, data=b"{}") for s in (lean, plain)]
        fields = ("status_code", "reason", "url", "encoding", "content")
        assert [getattr(got[0], f) for f in fields] == [getattr(got[1], f) for f in fields]
        headers = [dict(r.headers) for r in got]
        for seen in headers:
            seen.pop("Date")  # may fall in the next second
        assert headers[0] == headers[1]
        assert got[0].cookies.get_dict() == got[1].cookies.get_dict()


def test_pools_are_kept_until_the_adapter_closes(server):
    adapter = LeanAdapter(pool_connections=1, pool_maxsize=2)
    request = requests.Request("POST", server + "/v1/x").prepare()
    pool = adapter.get_connection_with_tls_context(request, True)
    assert adapter.get_connection_with_tls_context(request, True) is pool
    adapter.close()
    assert adapter.get_connection_with_tls_context(request, True) is not pool


def test_a_pooled_connection_the_upstream_closed_is_replaced(server):
    http = UpstreamHTTP("up", server + "/v1", {"connect_timeout": 2, "read_timeout": 5})
    try:
        first = http.request("POST", "/x", data=b"{}")
        second = http.request("POST", "/close", data=b"{}")
        third = http.request("POST", "/x", data=b"{}")
    finally:
        http.close()
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert isinstance(third.elapsed, timedelta)
    peers = [request["peer"] for request in Recorder.seen]
    # The first connection is reused once, then replaced after the server closed it.
    assert peers[0] == peers[1] != peers[2]
