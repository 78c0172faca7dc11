"""The application factory and its configuration."""

from app import create_app


def test_config_mapping_overrides_environment(monkeypatch, config):
    monkeypatch.setenv("GATEWAY_MAX_N", "3")
    app = create_app({**config, "GATEWAY_MAX_N": 5})
    assert app.config["GATEWAY_MAX_N"] == 5
    assert app.config["TESTING"] is True


def test_environment_is_read_when_no_mapping_overrides(monkeypatch, config):
    monkeypatch.setenv("GATEWAY_API_KEYS", "a, b ,")
    app = create_app({"MODELS": config["MODELS"]})
    assert app.config["GATEWAY_API_KEYS"] == ["a", "b"]


def test_routes_answer_with_and_without_v1_prefix(client):
    body = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
    assert client.post("/v1/chat/completions", json=body).status_code == 200
    assert client.post("/chat/completions", json=body).status_code == 200
    assert client.get("/v1/models").status_code == 200
    assert client.get("/models").status_code == 200
    assert client.get("/models/mock").get_json() == client.get("/v1/models/mock").get_json()
    assert client.get("/models/mock").get_json()["id"] == "mock"
    assert client.get("/models/nope").status_code == 404
    legacy = {"model": "mock", "prompt": "hi", "max_tokens": 3}
    assert client.post("/completions", json=legacy).status_code == 200
    embed = {"model": "mock/text-embedding-3-small", "input": "hi"}
    assert client.post("/embeddings", json=embed).get_json()["object"] == "list"
