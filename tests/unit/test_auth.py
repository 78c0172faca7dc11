"""Client API keys: Bearer (or Basic with the key as password) on the API, none on health."""

from __future__ import annotations

import base64
import logging

import pytest

from app import create_app
from app.auth import KeyStore
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


# OpenAI's 401 when no key is sent, with a null `code`; its last sentence (where to get an
# OpenAI key) is left out.
MISSING_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with "
    "blank username) if you're accessing the API from your browser and are prompted for a "
    "username and password."
)


def basic(credentials: str) -> str:
    """An `Authorization: Basic` value for `credentials` ("user:password")."""
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def assert_401(response) -> None:
    """A 401 `invalid_api_key` envelope."""
    assert response.status_code == 401
    error = check_error(response.get_json(), 401)
    assert (error.type, error.code, error.param) == (
        "invalid_request_error",
        "invalid_api_key",
        None,
    )


def assert_missing(response) -> None:
    """OpenAI's 401 for a request that carries no key."""
    assert response.status_code == 401
    assert response.get_json() == {
        "error": {
            "message": MISSING_MESSAGE,
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer ",
        "Bearer",
        KEY,
        f"Token {KEY}",
        f"Basic {KEY}",
        "Basic ",
        basic(f"user:{KEY}"),
        basic(KEY),
        basic(":"),
        "Basic " + base64.b64encode(b":\xff").decode(),
        "Basic \xe9t\xe9",
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), API_CALLS)
def test_missing_key_is_401_with_a_null_code(client, method, path, body, authorization):
    assert_missing(call(client, method, path, body, authorization))


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {WRONG}", f"Bearer {KEY}x", basic(f":{WRONG}"), basic(f":{KEY}x")],
)
@pytest.mark.parametrize(("method", "path", "body"), API_CALLS)
def test_wrong_key_is_401(client, method, path, body, authorization):
    assert_401(call(client, method, path, body, authorization))


def test_a_wrong_basic_key_is_refused_as_a_wrong_bearer_key_is(client):
    bearer = call(client, "get", "/v1/models", None, f"Bearer {WRONG}")
    basic_auth = call(client, "get", "/v1/models", None, basic(f":{WRONG}"))
    assert basic_auth.status_code == bearer.status_code == 401
    assert basic_auth.get_json() == bearer.get_json()


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {KEY}",
        f"bearer {KEY}",
        f"BEARER {KEY}",
        f"BeArEr {KEY}",
        f"Bearer {OTHER_KEY}",
        basic(f":{KEY}"),
        basic(f":{OTHER_KEY}").replace("Basic", "basic"),
    ],
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
    responses += [call(client, m, p, b, basic(f":{KEY}")) for m, p, b in API_CALLS]
    responses += [call(client, m, p, b, basic(f":{WRONG}")) for m, p, b in API_CALLS]
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


def test_a_keys_rate_limit_counter_follows_the_key_not_its_position():
    # GATEWAY_API_KEYS names keys by position: another order must not swap their counters.
    first = KeyStore.from_plain(["sk-alpha", "sk-beta"])
    second = KeyStore.from_plain(["sk-beta", "sk-alpha"])
    alpha_1, alpha_2 = first.match("sk-alpha"), second.match("sk-alpha")
    assert alpha_1 is not None and alpha_2 is not None
    assert alpha_1.name != alpha_2.name and alpha_1.bucket == alpha_2.bucket
    assert alpha_1.bucket != first.match("sk-beta").bucket  # type: ignore[union-attr]
    assert "alpha" not in alpha_1.bucket
