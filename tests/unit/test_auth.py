"""Client API keys: `Authorization: Bearer <key>` on the API, nothing on health and the index."""

from __future__ import annotations

import logging

import pytest

from app import create_app
from tests.support.openai_checks import check_error

KEY, OTHER_KEY = "sk-gateway-right-8f3a1c", "sk-gateway-second-77b2"
WRONG = "sk-gateway-wrong-d41d8c"
BODY = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
API_CALLS = [
    ("post", "/v1/chat/completions", BODY),
    ("post", "/chat/completions", BODY),
    ("get", "/v1/models", None),
    ("get", "/v1/models/mock", None),
]


@pytest.fixture
def config(config):
    """The test config with two client keys and verbose logging."""
    return {**config, "GATEWAY_API_KEYS": [KEY, OTHER_KEY], "LOG_LEVEL": "DEBUG"}


def call(client, method: str, path: str, body, authorization: str | None = None):
    """Send one API call with an optional Authorization header."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    return getattr(client, method)(path, json=body, headers=headers)


def assert_401(response) -> None:
    """A 401 `invalid_api_key` envelope."""
    assert response.status_code == 401
    error = check_error(response.get_json(), 401)
    assert (error.type, error.code, error.param) == (
        "invalid_request_error",
        "invalid_api_key",
        None,
    )


@pytest.mark.parametrize(("method", "path", "body"), API_CALLS)
def test_missing_key_is_401(client, method, path, body):
    response = call(client, method, path, body)
    assert_401(response)
    assert "didn't provide an API key" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {WRONG}", "Bearer ", "Bearer", KEY, f"Basic {KEY}", f"Token {KEY}", f"Bearer {KEY}x"],
)
@pytest.mark.parametrize(("method", "path", "body"), API_CALLS)
def test_wrong_key_is_401(client, method, path, body, authorization):
    assert_401(call(client, method, path, body, authorization))


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {KEY}", f"bearer {KEY}", f"BEARER {KEY}", f"BeArEr {KEY}", f"Bearer {OTHER_KEY}"],
)
@pytest.mark.parametrize(("method", "path", "body"), API_CALLS)
def test_right_key_is_accepted(client, method, path, body, authorization):
    response = call(client, method, path, body, authorization)
    assert response.status_code == 200, response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/health", "/"])
def test_health_and_index_need_no_key(client, path):
    assert client.get(path).status_code == 200


def test_cors_preflight_needs_no_key(client):
    response = client.options(
        "/v1/chat/completions",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://app.example")


def test_no_keys_means_open_with_a_warning(config, caplog):
    with caplog.at_level(logging.WARNING, logger="app"):
        client = create_app({**config, "GATEWAY_API_KEYS": []}).test_client()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "app.auth"]
    assert len(warnings) == 1 and "GATEWAY_API_KEYS" in warnings[0].getMessage()
    for method, path, body in API_CALLS:
        assert call(client, method, path, body).status_code == 200
    assert call(client, "get", "/v1/models", None, f"Bearer {WRONG}").status_code == 200


def test_configured_keys_log_no_warning(config, caplog):
    with caplog.at_level(logging.DEBUG, logger="app"):
        create_app(config)
    assert not [r for r in caplog.records if r.name == "app.auth"]


def test_keys_never_appear_in_responses_or_logs(config, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    app = create_app(config)
    client = app.test_client()
    responses = [call(client, m, p, b, f"Bearer {KEY}") for m, p, b in API_CALLS]
    responses += [call(client, m, p, b, f"Bearer {WRONG}") for m, p, b in API_CALLS]
    responses += [client.get("/health"), client.get("/"), client.get("/v1/nope")]

    def crash(call):
        raise RuntimeError("backend failed")

    # Unexpected failures log a traceback: the key must not be in it either.
    monkeypatch.setattr(app.extensions["gateway.backends"]["mock"], "chat", crash)
    responses.append(call(client, "post", "/v1/chat/completions", BODY, f"Bearer {KEY}"))
    assert responses[-1].status_code == 500
    assert caplog.records, "nothing was logged, so the log check below would prove nothing"
    logged = "\n".join(caplog.text.splitlines() + [r.getMessage() for r in caplog.records])
    for secret in (KEY, OTHER_KEY, WRONG):
        assert secret not in logged
        for response in responses:
            assert secret not in response.get_data(as_text=True)
            assert secret not in str(response.headers)
