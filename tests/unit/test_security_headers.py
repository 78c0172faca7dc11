"""Browser-facing hardening: security headers on every page, and CORS that never reflects an
arbitrary origin along with credentials."""

from __future__ import annotations

import pytest

from app import create_app
from app.security_headers import HEADERS
from config import load_settings
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


@pytest.mark.parametrize("origins", [["*"], ["https://app.example"]])
def test_a_request_without_origin_gets_no_cors_headers(origins):
    # SDKs, curl and servers send no Origin: CORS does not apply to them.
    client = make_client(CORS_ORIGINS=origins)
    for response in (
        client.get("/v1/models"),
        client.post("/v1/chat/completions", json={"model": "mock", "messages": HI}),
    ):
        assert response.status_code == 200
        assert not [k for k in response.headers.keys() if k.lower().startswith("access-control-")]


@pytest.mark.parametrize("preflight", [False, True])
def test_configured_origins_are_the_only_ones_allowed(preflight):
    client = make_client(CORS_ORIGINS=["https://app.example"])
    allowed = cors_headers(client, "https://app.example", preflight)
    assert allowed["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-credentials" not in allowed
    for origin in (EVIL, "null", "https://app.example.evil.example"):
        assert "access-control-allow-origin" not in cors_headers(client, origin, preflight)


# Response headers every browser may read without Access-Control-Expose-Headers (Fetch spec).
SAFELISTED = {
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
}


def exposed(response) -> set[str]:
    """The response's Access-Control-Expose-Headers, lower-cased."""
    value = response.headers.get("Access-Control-Expose-Headers", "")
    return {name.strip().lower() for name in value.split(",") if name.strip()}


def gateway_headers(response) -> set[str]:
    """The names of the response's own headers that browser code might want to read."""
    names = {name.lower() for name in response.headers.keys()}
    hardening = {name.lower() for name in HEADERS}
    return {
        name
        for name in names - SAFELISTED - hardening
        if not name.startswith("access-control-") and name not in ("vary", "x-accel-buffering")
    }


@pytest.mark.parametrize("origins", [["*"], ["https://app.example"]])
def test_browsers_may_read_the_request_id_and_the_backend(origins):
    client = make_client(CORS_ORIGINS=origins)
    origin = {"Origin": "https://app.example"}
    listed = client.get("/v1/models", headers=origin)
    assert {"x-request-id", "retry-after", "retry-after-ms", "x-ratelimit-reset-tokens"} <= (
        exposed(listed)
    )
    chat = client.post(
        "/v1/chat/completions", json={"model": "mock", "messages": HI}, headers=origin
    )
    assert chat.status_code == 200
    assert {"x-request-id", "x-gateway-backend"} <= gateway_headers(chat) <= exposed(chat)


def test_browsers_may_read_the_rate_limit_headers_of_a_429():
    client = make_client(GATEWAY_API_KEYS=["sk-browser"], RATE_LIMIT_RPM=1)
    headers = {"Origin": "https://app.example", "Authorization": "Bearer sk-browser"}
    body = {"model": "mock", "messages": HI}
    assert client.post("/v1/chat/completions", json=body, headers=headers).status_code == 200
    refused = client.post("/v1/chat/completions", json=body, headers=headers)
    assert refused.status_code == 429
    assert {"retry-after", "x-ratelimit-remaining-requests"} <= gateway_headers(refused)
    assert gateway_headers(refused) <= exposed(refused)


def preflight(client):
    return client.options(
        "/v1/chat/completions",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_preflights_may_be_cached_for_two_hours_by_default():
    response = preflight(make_client())
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Max-Age"] == "7200"


@pytest.mark.parametrize(("max_age", "sent"), [(600, "600"), (0, None)])
def test_preflight_max_age_follows_the_setting(max_age, sent):
    response = preflight(make_client(CORS_MAX_AGE=max_age))
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers.get("Access-Control-Max-Age") == sent


def test_cors_max_age_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("CORS_MAX_AGE", "86400")
    assert load_settings()["CORS_MAX_AGE"] == 86400
    monkeypatch.delenv("CORS_MAX_AGE")
    assert load_settings()["CORS_MAX_AGE"] == 7200
