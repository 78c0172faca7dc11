"""Remote image URLs: refused by default; when enabled, only public addresses, on every hop.

A small HTTP server on 127.0.0.1 stands in for image hosts; host names resolve through a
monkeypatched resolver, so no traffic leaves this machine.
"""

from __future__ import annotations

import base64
import ipaddress
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses

from app.backends import images
from app.backends.images import ImagePolicy, fetch_image, is_blocked, load_image
from app.errors import InvalidRequestError
from tests.support.openai_checks import check_error
from tests.unit.gemini_helpers import OK, URL, chat, gemini_client, sent

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PARAM = "messages[0].content[1].image_url.url"


class _Images(BaseHTTPRequestHandler):
    hits: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.hits.append((self.path, self.headers.get("Host", "")))
        port = self.server.server_address[1]
        routes = {
            "/cat.png": (200, {"Content-Type": "image/png"}, PNG),
            "/octet": (200, {"Content-Type": "application/octet-stream"}, PNG),
            "/mislabelled": (200, {"Content-Type": "image/jpeg"}, PNG),
            "/page.html": (200, {"Content-Type": "text/html"}, b"<html></html>"),
            "/big.png": (200, {"Content-Type": "image/png"}, PNG * 100),
            "/redirect-ok": (302, {"Location": "/cat.png"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/to-loopback": (302, {"Location": f"http://127.0.0.2:{port}/cat.png"}, b""),
            "/to-metadata": (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
            "/to-mapped": (302, {"Location": f"http://[::ffff:127.0.0.1]:{port}/cat.png"}, b""),
        }
        if self.path == "/slow.png":
            time.sleep(1.5)
        status, headers, body = routes.get(self.path, (200, {"Content-Type": "image/png"}, PNG))
        self.send_response(status)
        for name, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        return None


@pytest.fixture(scope="module")
def image_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def hits():
    _Images.hits.clear()
    return _Images.hits


@pytest.fixture
def dns(monkeypatch):
    """Fake DNS: `images.test` is the local server (allow-listed below), `evil.test` loopback."""
    table = {
        "images.test": ["127.0.0.1"],
        "evil.test": ["127.0.0.1"],
        "mixed.test": ["93.184.216.34", "10.1.2.3"],
    }

    def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        ipaddress.ip_address(host)  # literals only; anything else would be real DNS
        return [host]

    monkeypatch.setattr(images, "resolve_host", resolve)
    return table


ALLOW_LOCAL = {"fetch_remote_images": True, "image_allowed_networks": ["127.0.0.1/32"]}


def ask_about(client, url: str):
    content = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    return chat(client, messages=[{"role": "user", "content": content}])


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
        "100.100.100.200", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::",
        "fe80::1", "fc00::1", "fd00:ec2::254", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
        "64:ff9b::7f00:1", "2002:7f00:1::1", "2001:db8::1",
    ],
)  # fmt: skip
def test_non_public_addresses_are_blocked(address):
    assert is_blocked(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert not is_blocked(ipaddress.ip_address(address))


def test_remote_images_are_refused_by_default(monkeypatch, image_server, hits):
    client = gemini_client(monkeypatch)
    answer = ask_about(client, f"http://127.0.0.1:{image_server}/cat.png")
    assert answer.status_code == 400
    error = check_error(answer.json, 400)
    assert (error.param, error.code) == (PARAM, "image_url_not_allowed")
    assert "data URL" in error.message
    assert hits == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/cat.png",
        "http://10.0.0.5/x.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/cat.png",
        "http://evil.test:{port}/cat.png",
        "http://mixed.test/cat.png",
    ],
)
def test_enabled_fetching_refuses_non_public_hosts(monkeypatch, dns, image_server, hits, url):
    client = gemini_client(monkeypatch, fetch_remote_images=True)
    answer = ask_about(client, url.format(port=image_server))
    assert answer.status_code == 400
    error = check_error(answer.json, 400)
    assert (error.param, error.code) == (PARAM, "image_url_not_allowed")
    assert hits == []


@pytest.mark.parametrize("path", ["/to-loopback", "/to-metadata", "/to-mapped"])
def test_redirects_are_checked_hop_by_hop(monkeypatch, dns, image_server, hits, path):
    client = gemini_client(monkeypatch, **ALLOW_LOCAL)
    answer = ask_about(client, f"http://images.test:{image_server}{path}")
    assert answer.status_code == 400
    assert check_error(answer.json, 400).code == "image_url_not_allowed"
    assert [hit[0] for hit in hits] == [path]


def test_allowed_image_is_fetched_from_the_checked_address(monkeypatch, dns, image_server, hits):
    client = gemini_client(monkeypatch, **ALLOW_LOCAL)
    with responses.RequestsMock() as upstream:
        upstream.post(URL, json=OK)
        answer = ask_about(client, f"http://images.test:{image_server}/redirect-ok")
        assert answer.status_code == 200, answer.json
        parts = sent(upstream)["contents"][0]["parts"]
    image = {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}
    assert parts == [{"text": "What is in this image?"}, {"inlineData": image}]
    # The socket went to the resolved address while the request named the host.
    host = f"images.test:{image_server}"
    assert hits == [("/redirect-ok", host), ("/cat.png", host)]


def policy(**changes) -> ImagePolicy:
    base = ImagePolicy(enabled=True, allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))
    return ImagePolicy(**{**base.__dict__, **changes})


@pytest.mark.parametrize("path", ["/octet", "/mislabelled"])
def test_fetched_images_are_typed_by_their_bytes(image_server, path):
    # Providers refuse a declared type that does not match the bytes; OpenAI reads the bytes.
    url = f"http://127.0.0.1:{image_server}{path}"
    assert fetch_image(url, policy(), "p") == ("image/png", PNG)


@pytest.mark.parametrize(
    ("path", "changes", "reason"),
    [
        ("/big.png", {"max_bytes": 1000}, "larger than 1000 bytes"),
        ("/page.html", {}, "not point to an image"),
        ("/loop", {}, "too many redirects"),
        ("/slow.png", {"timeout": 0.2}, "did not answer in time"),
    ],
)
def test_fetch_limits(image_server, path, changes, reason):
    with pytest.raises(InvalidRequestError) as info:
        fetch_image(f"http://127.0.0.1:{image_server}{path}", policy(**changes), "p")
    assert reason in info.value.message
    assert (info.value.param, info.value.code) == ("p", "invalid_image_url")


@pytest.mark.parametrize("url", ["ftp://images.test/cat.png", "file:///etc/passwd"])
def test_other_schemes_are_refused(url):
    with pytest.raises(InvalidRequestError) as info:
        load_image(url, policy(), "p")
    assert info.value.code == "invalid_image_url"


def test_urls_with_credentials_are_refused(monkeypatch, dns, image_server, hits):
    client = gemini_client(monkeypatch, **ALLOW_LOCAL)
    answer = ask_about(client, f"http://u:pw@images.test:{image_server}/cat.png")
    assert answer.status_code == 400
    assert check_error(answer.json, 400).code == "invalid_image_url"
    assert hits == []
