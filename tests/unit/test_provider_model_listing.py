"""Gemini and Anthropic model listings in `/v1/models`: cached per worker, failures never fatal."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import responses
from flask.testing import FlaskClient

from app import create_app
from app.backends import discovery
from tests.fakes import anthropic_wire, gemini
from tests.support.openai_checks import check_model_list

GEMINI_BASE = "https://gemini.test/v1beta"
ANTHROPIC_BASE = "https://api.anthropic.test"
KEY_ENV = "LISTING_TEST_KEY"
KEY = "listing-test-key-5d2e"


@dataclass(frozen=True)
class Provider:
    """One provider backend: how its app is built and what its listing looks like."""

    name: str
    # The backend's name in the models file the tests build.
    backend: str
    list_url: str
    listing: dict[str, Any]
    # The ids `/v1/models` shows: the models file's exact ids, then the listed ones.
    exact_ids: list[str]
    discovered_ids: list[str]

    def models_file(self, **options: Any) -> dict[str, Any]:
        """A models file whose backend has `options`, with a pattern that routes listed ids."""
        if self.name == "gemini":
            return gemini.gateway_models(GEMINI_BASE, KEY_ENV, **options)
        return anthropic_wire.gateway_models(ANTHROPIC_BASE, KEY_ENV, **options)


GEMINI = Provider(
    "gemini",
    "gemini",
    f"{GEMINI_BASE}/models?pageSize=1000",
    {"models": [{"name": "models/gemini-2.5-flash"}, {"name": "models/embedding-001"}]},
    ["gpt-4o", "text-embedding-3-small"],
    ["gemini-2.5-flash"],
)
ANTHROPIC = Provider(
    "anthropic",
    "claude",
    f"{ANTHROPIC_BASE}/v1/models?limit=1000",
    {"data": [{"id": "claude-sonnet-4-5", "created_at": "2025-09-29T00:00:00Z"}]},
    ["claude-3-haiku", "claude-3-opus"],
    ["claude-sonnet-4-5"],
)
FAILURE = {"status": 500, "json": {"error": {"message": "down", "code": 500, "status": "x"}}}


@pytest.fixture
def upstream() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(params=[GEMINI, ANTHROPIC], ids=lambda p: p.name)
def provider(request: pytest.FixtureRequest) -> Provider:
    return request.param


def make_client(
    monkeypatch: pytest.MonkeyPatch, provider: Provider, *, key: bool = True, **options: Any
) -> FlaskClient:
    if key:
        monkeypatch.setenv(KEY_ENV, KEY)
    else:
        monkeypatch.delenv(KEY_ENV, raising=False)
    config = {"TESTING": True, "MODELS": provider.models_file(**options), "GATEWAY_API_KEYS": []}
    return create_app(config).test_client()


def listed_ids(client: FlaskClient) -> list[str]:
    response = client.get("/v1/models")
    assert response.status_code == 200
    check_model_list(response.get_json())
    return [model["id"] for model in response.get_json()["data"]]


def test_the_listing_is_asked_for_once_per_ttl(monkeypatch, provider, upstream, clock):
    client = make_client(monkeypatch, provider)
    upstream.get(provider.list_url, json=provider.listing)
    expected = provider.exact_ids + provider.discovered_ids
    assert listed_ids(client) == expected
    assert listed_ids(client) == expected
    assert client.get(f"/v1/models/{provider.discovered_ids[0]}").status_code == 200
    upstream.assert_call_count(provider.list_url, 1)
    # The default TTL is the openai backend's: 300 s.
    clock.now += 299
    assert listed_ids(client) == expected
    upstream.assert_call_count(provider.list_url, 1)
    clock.now += 2
    assert listed_ids(client) == expected
    upstream.assert_call_count(provider.list_url, 2)


def test_discover_ttl_sets_how_long_the_listing_is_kept(monkeypatch, provider, upstream, clock):
    client = make_client(monkeypatch, provider, discover_ttl=5)
    upstream.get(provider.list_url, json=provider.listing)
    listed_ids(client)
    clock.now += 4
    listed_ids(client)
    upstream.assert_call_count(provider.list_url, 1)
    clock.now += 2
    listed_ids(client)
    upstream.assert_call_count(provider.list_url, 2)


def test_the_listing_waits_at_most_the_list_timeout(monkeypatch, provider, upstream, clock):
    client = make_client(monkeypatch, provider)
    upstream.get(provider.list_url, json=provider.listing)
    listed_ids(client)
    # read_timeout is 600 s by default: `/v1/models` must not wait that long for a listing.
    assert upstream.calls[0].request.req_kwargs["timeout"] == (5.0, discovery.LIST_TIMEOUT)


@pytest.mark.parametrize(
    "failure",
    [
        FAILURE,
        {"body": b"not json"},
        {"json": [1, 2]},
        # Gemini lists under `models`, Anthropic under `data`: neither is an array here.
        {"json": {"models": 5, "data": 5}},
        {"body": requests.ConnectionError("refused")},
    ],
    ids=["status", "body", "not-an-object", "no-array", "connection"],
)
def test_a_failing_listing_is_not_repeated_within_failure_ttl(
    monkeypatch, provider, upstream, clock, caplog, failure
):
    client = make_client(monkeypatch, provider)
    upstream.get(provider.list_url, **failure)
    assert listed_ids(client) == provider.exact_ids
    assert f"backend {provider.backend}: model listing failed" in caplog.text
    assert KEY not in caplog.text
    clock.now += discovery.FAILURE_TTL - 1
    assert listed_ids(client) == provider.exact_ids
    upstream.assert_call_count(provider.list_url, 1)
    clock.now += 2
    upstream.replace(responses.GET, provider.list_url, json=provider.listing)
    assert listed_ids(client) == provider.exact_ids + provider.discovered_ids
    upstream.assert_call_count(provider.list_url, 2)


def test_a_missing_key_lists_none_and_is_not_retried_at_once(
    monkeypatch, provider, upstream, clock, caplog
):
    client = make_client(monkeypatch, provider, key=False)
    assert listed_ids(client) == provider.exact_ids
    assert listed_ids(client) == provider.exact_ids
    failures = [r for r in caplog.records if "model listing failed" in r.getMessage()]
    assert len(failures) == 1
    assert KEY_ENV in failures[0].getMessage()
    assert len(upstream.calls) == 0


def test_a_negative_discover_ttl_is_refused(monkeypatch, provider):
    with pytest.raises(ValueError, match="discover_ttl must not be negative"):
        make_client(monkeypatch, provider, discover_ttl=-1)


def test_a_listing_that_fails_unexpectedly_is_logged_and_lists_none(clock, caplog):
    def broken() -> list[dict]:
        raise TypeError("not what the backend expected")

    cache = discovery.ModelListCache("up", broken, ttl=300)
    assert cache.get() == []
    assert "backend up: model listing failed" in caplog.text
    clock.now += discovery.FAILURE_TTL - 1
    cache.fetch = lambda: [{"id": "m"}]
    assert cache.get() == []  # not asked again before FAILURE_TTL
    clock.now += 2
    assert cache.get() == [{"id": "m"}]
