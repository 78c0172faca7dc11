"""Browser-facing hardening: security headers on every page, and CORS that never reflects an
arbitrary origin along with credentials."""

from __future__ import annotations

import pytest

from app import create_app
from app.security_headers import HEADERS
from tests.conftest import MOCK_MODELS

HI = [{"role": "user", "content": "hi"}]
EVIL = "https://evil.example"


def make_client(**config):
    settings = {"TESTING": True, "MODELS": MOCK_MODELS, "GATEWAY_API_KEYS": [], **config}
    return create_app(settings).test_client()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/", None, 200),
        ("GET", "/health", None, 200),
        ("GET", "/no/such/page", None, 404),
        ("DELETE", "/health", None, 405),
        ("GET", "/v1/models", None, 200),
        ("POST", "/v1/chat/completions", {"model": "mock", "messages": HI}, 200),
        ("POST", "/v1/chat/completions", {"model": "mock", "messages": HI, "stream": True}, 200),
        ("POST", "/v1/chat/completions", {"model": "mock"}, 400),
        ("POST", "/v1/chat/completions", {"model": "nope", "messages": HI}, 404),
    ],
)
def test_every_response_carries_the_security_headers(method, path, body, status):
    response = make_client().open(path, method=method, json=body)
    assert response.status_code == status
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, name
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_the_headers_are_the_strict_ones():
    assert HEADERS["X-Frame-Options"] == "DENY"
    assert HEADERS["Referrer-Policy"] == "no-referrer"


def cors_headers(client, origin: str, preflight: bool) -> dict[str, str]:
    if preflight:
        response = client.options(
            "/v1/chat/completions",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
    else:
        response = client.get("/v1/models", headers={"Origin": origin})
    assert response.status_code == 200
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-")}


@pytest.mark.parametrize("preflight", [False, True])
@pytest.mark.parametrize("origin", [EVIL, "null", "https://app.example"])
def test_default_cors_is_a_wildcard_without_credentials(origin, preflight):
    headers = cors_headers(make_client(), origin, preflight)
    assert headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in headers


@pytest.mark.parametrize("preflight", [False, True])
def test_configured_origins_are_the_only_ones_allowed(preflight):
    client = make_client(CORS_ORIGINS=["https://app.example"])
    allowed = cors_headers(client, "https://app.example", preflight)
    assert allowed["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-credentials" not in allowed
    for origin in (EVIL, "null", "https://app.example.evil.example"):
        assert "access-control-allow-origin" not in cors_headers(client, origin, preflight)
