"""Routing through the app: the models file at start, `/v1/models`, routed calls and fallbacks."""

from __future__ import annotations

import pytest

from app import backends, create_app
from app.backends.base import Backend, Call, Result
from app.errors import UpstreamError
from tests.support.openai_checks import check_error, check_model, check_model_list

BODY = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def config(config):
    """Two mock backends, exact ids, a pattern, and an id with a slash."""
    models = {
        "backends": {"primary": {"type": "mock"}, "spare": {"type": "mock"}},
        "models": [
            {"id": "gpt-4o", "backend": "primary", "created": 1700000000},
            {"id": "team/model", "backend": "spare", "model": "upstream-id"},
            {"id": "mock/*", "backend": "spare", "strip_prefix": "mock/"},
        ],
    }
    return {**config, "MODELS": models}


class BrokenBackend(Backend):
    """Fails every call with a retryable upstream error, counting the attempts."""

    def chat(self, call: Call) -> Result:
        """Always fail (retryable)."""
        self.calls = getattr(self, "calls", 0) + 1
        raise UpstreamError("upstream is down", retryable=True)


def test_app_refuses_to_start_with_an_unknown_backend(config):
    models = {"backends": {"mock": {"type": "mock"}}, "models": [{"id": "x", "backend": "mocks"}]}
    with pytest.raises(ValueError, match="unknown backend `mocks`"):
        create_app({**config, "MODELS": models})


def test_models_file_is_read_from_disk(config, tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text("backends:\n  m: {type: mock}\nmodels:\n  - {id: local, backend: m}\n")
    client = create_app({**config, "MODELS": None, "MODELS_FILE": str(path)}).test_client()
    assert [m["id"] for m in client.get("/v1/models").get_json()["data"]] == ["local"]
    path.write_text("- just a list\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        create_app({**config, "MODELS": None, "MODELS_FILE": str(path)})


# The Quick start serves these names without a provider key: the shipped file routes them all.
FAMILIAR = [
    "mock",
    "gpt-4",
    "gpt-4-turbo",
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-3.5-turbo",
    "gpt-3.5-turbo-instruct",
    "claude-3-sonnet",
    "claude-3-haiku",
    "claude-3-opus",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
]


def test_the_shipped_models_file_routes_the_familiar_names_to_the_mock(config):
    settings = {key: value for key, value in config.items() if key != "MODELS_FILE"}
    app = create_app({**settings, "MODELS": None})
    assert app.config["MODELS_FILE"].endswith("config/models.yaml")
    client = app.test_client()
    listed = {m["id"]: m["owned_by"] for m in client.get("/v1/models").get_json()["data"]}
    assert {name: listed.get(name) for name in FAMILIAR} == {name: "mock" for name in FAMILIAR}
    hi = [{"role": "user", "content": "hi"}]
    for name in FAMILIAR:
        # Each name answers on the endpoints OpenAI serves it on.
        if "embedding" in name:
            path, body = "/v1/embeddings", {"model": name, "input": "hi"}
        elif name.endswith("-instruct"):
            path, body = "/v1/completions", {"model": name, "prompt": "hi"}
        else:
            path, body = "/v1/chat/completions", {"model": name, "messages": hi}
        answer = client.post(path, json=body)
        assert answer.status_code == 200, name
        assert answer.get_json()["model"] == name


def test_models_list_shows_exact_ids_owned_by_their_backend(client):
    body = client.get("/v1/models").get_json()
    check_model_list(body)
    assert body["object"] == "list"
    assert [(m["id"], m["owned_by"]) for m in body["data"]] == [
        ("gpt-4o", "primary"),
        ("team/model", "spare"),
    ]
    assert body["data"][0] == {
        "id": "gpt-4o",
        "object": "model",
        "created": 1700000000,
        "owned_by": "primary",
    }


@pytest.mark.parametrize("model_id", ["gpt-4o", "team/model"])
def test_retrieve_one_model(client, model_id):
    response = client.get(f"/v1/models/{model_id}")
    assert response.status_code == 200
    assert check_model(response.get_json()).id == model_id


def test_retrieve_answers_pattern_routed_ids_that_are_not_listed(client):
    first = client.get("/v1/models/mock/anything")
    assert first.status_code == 200
    model = first.get_json()
    assert check_model(model).id == "mock/anything"
    assert model["owned_by"] == "spare"
    # `created` is the pattern entry's, the same on every call.
    assert client.get("/v1/models/mock/other").get_json()["created"] == model["created"]
    listed = [m["id"] for m in client.get("/v1/models").get_json()["data"]]
    assert "mock/anything" not in listed


def test_retrieve_gives_a_pattern_match_its_entrys_created(config):
    models = {
        "backends": {"mock": {"type": "mock"}},
        "models": [{"id": "ollama/*", "backend": "mock", "created": 1690000000}],
    }
    client = create_app({**config, "MODELS": models}).test_client()
    body = client.get("/v1/models/ollama/llama3:8b").get_json()
    assert body == {
        "id": "ollama/llama3:8b",
        "object": "model",
        "created": 1690000000,
        "owned_by": "mock",
    }


def test_retrieve_unknown_model_is_404(client):
    response = client.get("/v1/models/nope")
    assert response.status_code == 404
    error = check_error(response.get_json(), 404)
    assert (error.code, error.param) == ("model_not_found", None)


@pytest.mark.parametrize(
    ("model", "answered_by"),
    [("gpt-4o", "primary/gpt-4o"), ("team/model", "spare/upstream-id"), ("mock/x-1", "spare/x-1")],
)
def test_requests_go_to_the_routed_backend(client, model, answered_by):
    response = client.post("/v1/chat/completions", json={**BODY, "model": model})
    assert response.status_code == 200
    assert response.headers["x-gateway-backend"] == answered_by
    assert response.get_json()["model"] == model


def test_fallback_answers_when_the_primary_fails(config, monkeypatch):
    monkeypatch.setitem(backends.BACKEND_TYPES, "broken", f"{__name__}:BrokenBackend")
    models = {
        "backends": {"down": {"type": "broken"}, "mock": {"type": "mock"}},
        "models": [
            {"id": "main", "backend": "down", "retries": 1, "fallbacks": ["backup"]},
            {"id": "backup", "backend": "mock"},
        ],
    }
    app = create_app({**config, "MODELS": models, "RETRY_BACKOFF_BASE": 0.0})
    response = app.test_client().post("/v1/chat/completions", json={**BODY, "model": "main"})
    assert response.status_code == 200
    assert response.headers["x-gateway-backend"] == "mock/backup"
    assert app.extensions["gateway.backends"]["down"].calls == 2


def test_a_fallback_is_tried_only_on_the_endpoints_it_serves(config, monkeypatch):
    monkeypatch.setitem(backends.BACKEND_TYPES, "broken", f"{__name__}:BrokenBackend")
    models = {
        "backends": {"down": {"type": "broken"}, "mock": {"type": "mock"}},
        "models": [
            {"id": "main", "backend": "down", "fallbacks": ["embedder", "backup"]},
            {"id": "embedder", "backend": "down", "endpoints": ["embeddings"]},
            {"id": "backup", "backend": "mock", "endpoints": "chat"},
        ],
    }
    app = create_app({**config, "MODELS": models, "RETRY_BACKOFF_BASE": 0.0})
    response = app.test_client().post("/v1/chat/completions", json={**BODY, "model": "main"})
    assert response.status_code == 200
    assert response.headers["x-gateway-backend"] == "mock/backup"
    # main failed once; the embedding-only fallback was never asked.
    assert app.extensions["gateway.backends"]["down"].calls == 1
