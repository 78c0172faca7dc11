"""Model discovery: the upstream's `GET /models` merged into `/v1/models`, cached, never fatal."""

from __future__ import annotations

import json
import logging

import pytest
import requests
import responses

from app.backends import discovery
from app.services import catalog
from tests.support.openai_checks import check_error, check_model, check_model_list
from tests.support.openai_upstream import (
    CHAT_URL,
    SERVER_KEY,
    UPSTREAM,
    chat_body,
    completion,
    make_app,
)

MODELS_URL = UPSTREAM + "/models"
MODELS = [
    {"id": "gw", "backend": "up", "model": "real-model", "created": 1},
    # An earlier pattern of another backend claims these ids first.
    {"id": "local/claimed*", "backend": "mock"},
    {"id": "local/*", "backend": "up", "strip_prefix": "local/", "created": 2},
]
UPSTREAM_MODELS = {
    "object": "list",
    "data": [
        {"id": "llama3:latest", "object": "model", "created": 1715000000, "owned_by": "library"},
        {"id": "qwen2.5", "object": "model"},
        {"id": "claimed-model", "object": "model", "created": 3, "owned_by": "x"},
        {"id": 5, "object": "model"},
        "not an object",
    ],
}


@pytest.fixture
def upstream():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def make_client(monkeypatch, models=MODELS, **backend):
    options = {"discover_models": True, "discover_ttl": 60, **backend}
    app = make_app(monkeypatch, backend=options, models=models, backends={"mock": {"type": "mock"}})
    return app.test_client()


@pytest.fixture
def client(monkeypatch, clock):
    return make_client(monkeypatch)


def listed_ids(client) -> list[str]:
    response = client.get("/v1/models")
    assert response.status_code == 200
    check_model_list(response.get_json())
    return [model["id"] for model in response.get_json()["data"]]


def test_discovered_models_are_listed_after_the_models_files_under_their_public_ids(
    client, upstream
):
    upstream.get(MODELS_URL, json=UPSTREAM_MODELS)
    response = client.get("/v1/models")
    data = response.get_json()["data"]
    assert [m["id"] for m in data] == ["gw", "local/llama3:latest", "local/qwen2.5"]
    assert data[1] == {
        "id": "local/llama3:latest",
        "object": "model",
        "created": 1715000000,
        "owned_by": "library",
    }
    # Without `created` and `owned_by` upstream: the pattern entry's time, the backend's name.
    assert data[2] == {"id": "local/qwen2.5", "object": "model", "created": 2, "owned_by": "up"}
    assert upstream.calls[0].request.headers["Authorization"] == f"Bearer {SERVER_KEY}"
    assert upstream.calls[0].request.req_kwargs["timeout"] == (5.0, 10.0)


def test_a_discovered_id_routes_back_to_its_upstream_model(client, upstream):
    upstream.get(MODELS_URL, json=UPSTREAM_MODELS)
    upstream.post(CHAT_URL, json=completion())
    assert "local/llama3:latest" in listed_ids(client)
    response = client.post("/v1/chat/completions", json=chat_body(model="local/llama3:latest"))
    assert response.get_json()["model"] == "local/llama3:latest"
    assert json.loads(upstream.calls[-1].request.body)["model"] == "llama3:latest"


def test_retrieve_finds_discovered_models(client, upstream):
    upstream.get(MODELS_URL, json=UPSTREAM_MODELS)
    response = client.get("/v1/models/local/llama3:latest")
    assert response.status_code == 200
    assert check_model(response.get_json()).id == "local/llama3:latest"
    assert client.get("/v1/models/gw").get_json()["created"] == 1
    # Not listed upstream, but `local/*` routes it: the pattern entry's details.
    unlisted = client.get("/v1/models/local/absent").get_json()
    assert unlisted == {"id": "local/absent", "object": "model", "created": 2, "owned_by": "up"}
    missing = client.get("/v1/models/elsewhere/absent")
    assert missing.status_code == 404
    assert check_error(missing.get_json(), 404).code == "model_not_found"


def test_the_listing_is_cached_for_the_ttl(client, upstream, clock):
    upstream.get(MODELS_URL, json=UPSTREAM_MODELS)
    listed_ids(client)
    clock.now += 59
    listed_ids(client)
    client.get("/v1/models/local/qwen2.5")
    assert len(upstream.calls) == 1
    clock.now += 2
    upstream.replace(responses.GET, MODELS_URL, json={"object": "list", "data": [{"id": "new"}]})
    assert listed_ids(client) == ["gw", "local/new"]
    assert len(upstream.calls) == 2


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "json": {"error": {"message": "down", "type": "server_error"}}},
        {"status": 401, "json": {"error": {"message": "bad key", "type": "invalid_request_error"}}},
        {"body": requests.ConnectionError("refused")},
        {"body": requests.ReadTimeout("slow")},
        {"body": b"not json"},
        {"json": {"object": "list"}},
        {"json": ["llama3"]},
    ],
)
def test_a_failing_listing_is_logged_and_skipped(client, upstream, clock, caplog, failure):
    upstream.get(MODELS_URL, **failure)
    assert listed_ids(client) == ["gw"]
    assert "model listing failed" in caplog.text
    # Still routed by `local/*`, so still retrievable, with the entry's details.
    retrieved = client.get("/v1/models/local/llama3").get_json()
    assert (retrieved["created"], retrieved["owned_by"]) == (2, "up")
    # The failure is remembered for a while, then the listing is tried again.
    assert len(upstream.calls) == 1
    clock.now += discovery.FAILURE_TTL + 1
    upstream.replace(responses.GET, MODELS_URL, json=UPSTREAM_MODELS)
    assert "local/llama3:latest" in listed_ids(client)


def test_no_listing_without_discover_models(monkeypatch, upstream):
    client = make_client(monkeypatch, discover_models=False)
    assert listed_ids(client) == ["gw"]
    assert len(upstream.calls) == 0


def test_no_listing_when_no_pattern_could_route_the_ids(monkeypatch, upstream, clock):
    client = make_client(monkeypatch, models=[{"id": "gw", "backend": "up"}])
    assert listed_ids(client) == ["gw"]
    assert len(upstream.calls) == 0


def test_a_pattern_without_prefix_lists_upstream_ids_as_they_are(monkeypatch, upstream, clock):
    models = [{"id": "gw", "backend": "up", "model": "x"}, {"id": "*", "backend": "up"}]
    client = make_client(monkeypatch, models=models)
    upstream.get(MODELS_URL, json=UPSTREAM_MODELS)
    assert listed_ids(client) == ["gw", "llama3:latest", "qwen2.5", "claimed-model"]


def test_an_exact_id_is_listed_once(monkeypatch, upstream, clock):
    models = [{"id": "llama3:latest", "backend": "mock"}, {"id": "*", "backend": "up"}]
    client = make_client(monkeypatch, models=models)
    upstream.get(MODELS_URL, json=UPSTREAM_MODELS)
    ids = listed_ids(client)
    assert ids.count("llama3:latest") == 1
    assert client.get("/v1/models/llama3:latest").get_json()["owned_by"] == "mock"


def test_listing_failures_never_log_the_key(client, upstream, caplog):
    caplog.set_level(logging.DEBUG)
    upstream.get(MODELS_URL, status=401, json={"error": f"bad key {SERVER_KEY}"})
    listed_ids(client)
    assert "model listing failed" in caplog.text
    assert SERVER_KEY not in caplog.text


OTHER_MODELS_URL = "http://other.test/v1/models"


def test_retrieve_asks_only_the_backend_its_pattern_routes_to(monkeypatch, upstream, clock):
    other = {"type": "openai", "base_url": "http://other.test/v1", "discover_models": True}
    models = [*MODELS, {"id": "other/*", "backend": "other", "strip_prefix": "other/"}]
    app = make_app(
        monkeypatch,
        backend={"discover_models": True, "discover_ttl": 60},
        models=models,
        backends={"mock": {"type": "mock"}, "other": other},
    )
    client = app.test_client()
    upstream.get(MODELS_URL, json=UPSTREAM_MODELS)
    upstream.get(OTHER_MODELS_URL, body=requests.ReadTimeout("never answers"))
    assert client.get("/v1/models/gw").get_json()["created"] == 1
    assert len(upstream.calls) == 0  # an exact id needs no listing at all
    found = client.get("/v1/models/local/llama3:latest").get_json()
    assert found["owned_by"] == "library"
    assert client.get("/v1/models/local/absent").get_json()["owned_by"] == "up"
    # Even after the listing is due again, a retrieve never waits on the unrelated backend.
    clock.now += 61
    assert client.get("/v1/models/local/qwen2.5").status_code == 200
    upstream.assert_call_count(MODELS_URL, 2)
    upstream.assert_call_count(OTHER_MODELS_URL, 0)


def test_public_ids_are_worked_out_once_per_fetched_list(monkeypatch, client, upstream, clock):
    mapped: list[str] = []
    public_id = catalog._public_id

    def counting(registry, backend, patterns, upstream_id):
        mapped.append(upstream_id)
        return public_id(registry, backend, patterns, upstream_id)

    monkeypatch.setattr(catalog, "_public_id", counting)
    upstream.get(MODELS_URL, json=UPSTREAM_MODELS)
    first = listed_ids(client)
    assert mapped == ["llama3:latest", "qwen2.5", "claimed-model"]
    assert listed_ids(client) == first
    assert client.get("/v1/models/local/qwen2.5").get_json()["owned_by"] == "up"
    assert client.get("/v1/models/local/absent").status_code == 200
    assert len(mapped) == 3  # the same list again: no per-model work
    clock.now += 61
    upstream.replace(responses.GET, MODELS_URL, json={"object": "list", "data": [{"id": "new"}]})
    assert listed_ids(client) == ["gw", "local/new"]
    assert mapped[3:] == ["new"]


def test_a_listing_keeps_at_most_max_models(caplog):
    listing = [{"id": f"m{i}"} for i in range(discovery.MAX_MODELS + 1)]
    cache = discovery.ModelListCache("big", lambda: listing, ttl=60)
    kept = cache.get()
    assert discovery.MAX_MODELS == 10_000
    assert [m["id"] for m in kept] == [m["id"] for m in listing[: discovery.MAX_MODELS]]
    assert "backend big: the upstream lists 10001 models" in caplog.text


def test_models_past_the_cap_are_not_listed(monkeypatch, upstream, clock, caplog):
    monkeypatch.setattr(discovery, "MAX_MODELS", 2)
    client = make_client(monkeypatch, models=[{"id": "*", "backend": "up"}])
    upstream.get(MODELS_URL, json=UPSTREAM_MODELS)
    assert listed_ids(client) == ["llama3:latest", "qwen2.5"]
    assert "backend up: the upstream lists 3 models; only the first 2 are listed" in caplog.text
    # Still routed by `*`, so still retrievable, with the pattern entry's details.
    assert client.get("/v1/models/claimed-model").get_json()["owned_by"] == "up"
