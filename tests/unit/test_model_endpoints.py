"""A model sent to an endpoint its `endpoints` leave out gets the error OpenAI gives."""

from __future__ import annotations

import pytest

from tests.support.openai_checks import check_error

HI = [{"role": "user", "content": "hi"}]
MODELS = {
    "backends": {"mock": {"type": "mock"}},
    "models": [
        {"id": "chatty", "backend": "mock", "endpoints": ["chat", "completions"]},
        {"id": "chat-only", "backend": "mock", "endpoints": ["chat"]},
        {"id": "instruct", "backend": "mock", "endpoints": ["completions"]},
        {"id": "text-embedding-3-small", "backend": "mock", "endpoints": ["embeddings"]},
        {"id": "anything", "backend": "mock"},
        {"id": "embed/*", "backend": "mock", "endpoints": ["embeddings"]},
    ],
}
PATHS = {
    "chat": "/v1/chat/completions",
    "completions": "/v1/completions",
    "embeddings": "/v1/embeddings",
}


@pytest.fixture
def config(config):
    """The test config with models limited to some endpoints."""
    return {**config, "MODELS": MODELS}


def _body(endpoint: str, model: str, **extra) -> dict:
    if endpoint == "chat":
        return {"model": model, "messages": HI, **extra}
    if endpoint == "completions":
        return {"model": model, "prompt": "hi", **extra}
    return {"model": model, "input": "hi", **extra}


NOT_CHAT = "This is not a chat model and thus not supported in the v1/chat/completions endpoint."
NOT_COMPLETIONS = (
    "This is not a completions model and thus not supported in the v1/completions endpoint."
)


@pytest.mark.parametrize(
    ("endpoint", "model", "message"),
    [
        ("chat", "instruct", NOT_CHAT + " Did you mean to use v1/completions?"),
        ("chat", "text-embedding-3-small", NOT_CHAT + " Did you mean to use v1/embeddings?"),
        ("chat", "embed/anything", NOT_CHAT + " Did you mean to use v1/embeddings?"),
        (
            "completions",
            "chat-only",
            "This is a chat model and not supported in the v1/completions endpoint."
            " Did you mean to use v1/chat/completions?",
        ),
        (
            "completions",
            "text-embedding-3-small",
            NOT_COMPLETIONS + " Did you mean to use v1/embeddings?",
        ),
    ],
)
def test_chat_and_completions_refuse_a_model_as_openai_does(client, endpoint, model, message):
    for stream in (False, True):
        response = client.post(PATHS[endpoint], json=_body(endpoint, model, stream=stream))
        # A plain JSON error, streamed request or not: nothing has started.
        assert response.mimetype == "application/json"
        body = response.get_json()
        check_error(body)
        assert response.status_code == 404
        assert body == {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": "model",
                "code": None,
            }
        }


@pytest.mark.parametrize("model", ["chatty", "chat-only", "instruct"])
def test_embeddings_refuse_a_model_as_openai_does(client, model):
    response = client.post("/v1/embeddings", json=_body("embeddings", model))
    assert response.status_code == 403
    body = response.get_json()
    check_error(body)
    assert body == {
        "error": {
            "message": "You are not allowed to generate embeddings from this model",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


@pytest.mark.parametrize(
    ("endpoint", "model"),
    [
        ("chat", "chatty"),
        ("completions", "chatty"),
        ("chat", "chat-only"),
        ("completions", "instruct"),
        ("embeddings", "text-embedding-3-small"),
        ("embeddings", "embed/small"),
        ("chat", "anything"),
        ("completions", "anything"),
    ],
)
def test_models_answer_on_the_endpoints_they_serve(client, endpoint, model):
    response = client.post(PATHS[endpoint], json=_body(endpoint, model))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["model"] == model


def test_the_shipped_models_file_limits_the_familiar_names(config):
    from app import create_app

    settings = {key: value for key, value in config.items() if key != "MODELS"}
    client = create_app(settings).test_client()
    refused = client.post("/v1/chat/completions", json=_body("chat", "text-embedding-3-small"))
    assert refused.status_code == 404
    assert refused.get_json()["error"]["message"].startswith(NOT_CHAT)
    assert client.post("/v1/embeddings", json=_body("embeddings", "gpt-4o")).status_code == 403
    chat = client.post("/v1/chat/completions", json=_body("chat", "gpt-3.5-turbo-instruct"))
    assert chat.status_code == 404
    assert client.post("/v1/completions", json=_body("completions", "gpt-4o")).status_code == 200
    # The demo model is routed to every endpoint; the mock embeds only for embedding names.
    for endpoint in PATHS:
        answer = client.post(PATHS[endpoint], json=_body(endpoint, "mock"))
        assert answer.status_code == (200 if endpoint != "embeddings" else 403), endpoint
