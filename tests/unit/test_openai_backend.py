"""The `openai` backend without streaming: forwarding, pass-through, keys, options, pooling."""

from __future__ import annotations

import json

import pytest

from app import create_app
from tests.support.openai_upstream import (
    CHAT_URL,
    CLIENT_KEY,
    KEY_ENV,
    SERVER_KEY,
    UPSTREAM,
    chat_body,
    completion,
    make_app,
    models_mapping,
)


@pytest.fixture
def client(monkeypatch):
    return make_app(monkeypatch).test_client()


def sent(upstream, index: int = 0) -> dict:
    return json.loads(upstream.calls[index].request.body)


# -- requests and answers ---------------------------------------------------------------------


def test_chat_is_forwarded_with_the_upstream_model_and_unknown_fields(client, upstream):
    upstream.post(CHAT_URL, json=completion(vendor_extra={"kept": [1, 2]}))
    body = chat_body(top_k=5, vendor_option={"a": None}, temperature=0.2)
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert sent(upstream) == {**body, "model": "real-model"}
    answer = response.get_json()
    assert answer == completion(model="gw", vendor_extra={"kept": [1, 2]})
    assert list(answer) == list(completion(vendor_extra=1))  # key order kept
    assert response.headers["x-gateway-backend"] == "up/real-model"


def test_the_server_key_and_json_content_type_go_upstream(client, upstream):
    upstream.post(CHAT_URL, json=completion())
    client.post("/v1/chat/completions", json=chat_body())
    request = upstream.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {SERVER_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.req_kwargs["timeout"] == (5.0, 600.0)


def test_configured_headers_and_timeouts_are_used(monkeypatch, upstream):
    backend = {"headers": {"HTTP-Referer": "https://example.org"}, "read_timeout": 42}
    client = make_app(monkeypatch, backend={**backend, "connect_timeout": 1.5}).test_client()
    upstream.post(CHAT_URL, json=completion())
    client.post("/v1/chat/completions", json=chat_body())
    request = upstream.calls[0].request
    assert request.headers["HTTP-Referer"] == "https://example.org"
    assert request.req_kwargs["timeout"] == (1.5, 42.0)


def test_forward_client_key_sends_the_clients_token_instead(monkeypatch, upstream):
    app = make_app(monkeypatch, backend={"forward_client_key": True}, GATEWAY_API_KEYS=[CLIENT_KEY])
    upstream.post(CHAT_URL, json=completion())
    response = app.test_client().post(
        "/v1/chat/completions",
        json=chat_body(),
        headers={"Authorization": f"Bearer {CLIENT_KEY}"},
    )
    assert response.status_code == 200
    assert upstream.calls[0].request.headers["Authorization"] == f"Bearer {CLIENT_KEY}"


def test_without_a_key_no_authorization_header_is_sent(monkeypatch, upstream):
    monkeypatch.delenv(KEY_ENV, raising=False)
    app = create_app({"TESTING": True, "MODELS": models_mapping(), "GATEWAY_API_KEYS": []})
    upstream.post(CHAT_URL, json=completion())
    app.test_client().post("/v1/chat/completions", json=chat_body())
    assert "Authorization" not in upstream.calls[0].request.headers


def test_completions_and_embeddings_are_forwarded_as_they_are(client, upstream):
    legacy = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "real-model"}
    legacy["choices"] = [{"text": "hi", "index": 0, "logprobs": None, "finish_reason": "stop"}]
    upstream.post(UPSTREAM + "/completions", json={**legacy, "extra": True})
    embedding = {"object": "embedding", "index": 0, "embedding": [0.5, -0.5]}
    usage = {"prompt_tokens": 1, "total_tokens": 1}
    upstream.post(
        UPSTREAM + "/embeddings",
        json={"object": "list", "data": [embedding], "model": "real-model", "usage": usage},
    )
    response = client.post("/v1/completions", json={"model": "gw", "prompt": "x", "top_k": 2})
    assert response.status_code == 200
    assert response.get_json() == {**legacy, "model": "gw", "extra": True}
    assert sent(upstream, 0) == {"model": "real-model", "prompt": "x", "top_k": 2}
    response = client.post("/v1/embeddings", json={"model": "gw", "input": "x", "dimensions": 2})
    assert response.status_code == 200
    assert response.get_json()["model"] == "gw"
    assert response.get_json()["data"] == [embedding]
    assert sent(upstream, 1) == {"model": "real-model", "input": "x", "dimensions": 2}


def test_one_pooled_session_per_upstream(monkeypatch, upstream):
    app = make_app(monkeypatch, backend={"pool_size": 7})
    backend = app.extensions["gateway.backends"]["up"]
    session = backend.http.session
    assert session.get_adapter(UPSTREAM).__dict__["_pool_maxsize"] == 7
    upstream.post(CHAT_URL, json=completion())
    client = app.test_client()
    for _ in range(2):
        client.post("/v1/chat/completions", json=chat_body())
    assert backend.http.session is session
    closed = []
    monkeypatch.setattr(session, "close", lambda: closed.append(True))
    app.extensions["gateway.backends"].close()
    assert closed == [True]


def test_the_upstreams_own_bytes_come_back_with_only_the_model_changed(client, upstream):
    # Spacing, key order, number spelling and UTF-8 text as the upstream wrote them.
    raw = (
        '{"id": "chatcmpl-1", "object": "chat.completion", "created": 1,\n "model": "real-model",'
        ' "choices": [{"index": 0, "message": {"role": "assistant", "content": "Grüße 👋",'
        ' "refusal": null}, "logprobs": null, "finish_reason": "stop"}],'
        ' "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},'
        ' "vendor_score": 1.5e-05}'
    ).encode()
    upstream.post(CHAT_URL, body=raw, content_type="application/json")
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.data == raw.replace(b'"model": "real-model"', b'"model":"gw"')


@pytest.mark.parametrize(
    "raw",
    [
        # A `model` inside an object before the top-level one.
        b'{"meta": {"model": "inner"}, "model": "real-model", "choices": [], "id": "x"}',
        # No `model` at all.
        b'{"id": "x", "choices": []}',
        # Invalid UTF-8 in the text.
        b'{"model": "real-model", "choices": [{"text": "caf\xe9"}]}',
    ],
)
def test_answers_that_cannot_be_spliced_are_encoded_anew(client, upstream, raw):
    upstream.post(CHAT_URL, body=raw, content_type="application/json")
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == 200
    answer = json.loads(response.data)  # valid JSON, valid UTF-8
    assert answer["model"] == "gw"
    assert answer.get("meta", {}).get("model", "inner") == "inner"


# -- options --------------------------------------------------------------------------------


def test_a_key_written_into_the_models_file_is_refused(monkeypatch):
    with pytest.raises(ValueError, match="api_key_env"):
        make_app(monkeypatch, backend={"api_key": "sk-in-the-file"})


def test_unknown_options_and_a_missing_key_variable_are_reported(monkeypatch, caplog):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    mapping = models_mapping({"api_key_env": "NOT_SET_ANYWHERE", "base_ulr": "typo"})
    create_app({"TESTING": True, "MODELS": mapping, "GATEWAY_API_KEYS": []})
    assert "base_ulr" in caplog.text
    assert "NOT_SET_ANYWHERE is not set" in caplog.text
