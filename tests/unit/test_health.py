"""`GET /health` and the `GET /` welcome: their bodies, open without a key."""

from __future__ import annotations

from app import __version__, create_app

KEYED = {"GATEWAY_API_KEYS": ["sk-health-test"]}


def test_health_reports_status_version_and_model_count(config):
    client = create_app({**config, **KEYED}).test_client()
    response = client.get("/health")
    assert response.status_code == 200
    # The count is of the models `/v1/models` lists (exact ids; patterns are not models).
    exact = [entry for entry in config["MODELS"]["models"] if "*" not in entry["id"]]
    assert response.get_json() == {"status": "ok", "version": __version__, "models": len(exact)}


def test_welcome_points_clients_to_v1(config):
    client = create_app({**config, **KEYED}).test_client()
    response = client.get("/")
    assert response.status_code == 200
    body = response.get_json()
    assert body["api"] == "/v1"
    assert body["version"] == __version__
    assert "/v1" in body["message"]
    assert body["endpoints"] == [
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/health",
    ]
