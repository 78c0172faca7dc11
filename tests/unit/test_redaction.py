"""Secrets never reach a log record: messages and exception traces are scrubbed.

A test-only backend crashes with the provider key and the client's token in its exception, so
the gateway's unexpected-exception paths (a 500, an error event mid-stream) log a trace that
would otherwise quote them.
"""

from __future__ import annotations

import logging

import pytest
import yaml

from app import create_app, redaction
from app.backends import BACKEND_TYPES
from tests.fakes.leaky_backend import LEAKY
from tests.support.secret_scan import CLIENT_SECRET, PROVIDER_SECRET

MODELS = {
    "backends": {"leaky": {"type": "leaky", "api_key_env": "LEAKY_PROVIDER_KEY"}},
    "models": [{"id": "crash", "backend": "leaky"}, {"id": "crash-stream", "backend": "leaky"}],
}
HI = [{"role": "user", "content": "hi"}]
MODELS_MOCK = {"backends": {"mock": {"type": "mock"}}, "models": [{"id": "m", "backend": "mock"}]}


@pytest.fixture
def leaky_client(monkeypatch):
    """A gateway whose `leaky` backend holds the provider key; the client key is required."""
    monkeypatch.setitem(BACKEND_TYPES, "leaky", LEAKY)
    monkeypatch.setenv("LEAKY_PROVIDER_KEY", PROVIDER_SECRET)
    app = create_app({"TESTING": True, "MODELS": MODELS, "GATEWAY_API_KEYS": [CLIENT_SECRET]})
    return app.test_client()


def chat(client, model: str, token: str = CLIENT_SECRET, **extra):
    headers = {"Authorization": f"Bearer {token}"}
    return client.post(
        "/v1/chat/completions", json={"model": model, "messages": HI, **extra}, headers=headers
    )


def test_a_crash_before_the_answer_logs_a_scrubbed_trace(
    leaky_client, caplog, scanned_logs, secret_scan
):
    caplog.set_level(logging.INFO)
    response = chat(leaky_client, "crash")
    secret_scan.add("crash answer", response.get_data())
    assert response.status_code == 500
    assert response.get_json()["error"]["type"] == "server_error"
    assert "Traceback" in caplog.text and "RuntimeError: upstream refused key '***'" in caplog.text
    assert PROVIDER_SECRET not in caplog.text and CLIENT_SECRET not in caplog.text


def test_a_crash_mid_stream_logs_a_scrubbed_trace(leaky_client, caplog, scanned_logs, secret_scan):
    caplog.set_level(logging.INFO)
    response = chat(leaky_client, "crash-stream", stream=True)
    body = response.get_data()
    secret_scan.add("crash-stream answer", body)
    assert response.status_code == 200 and b'"type":"server_error"' in body
    assert "RuntimeError" in caplog.text and "(client sent '***')" in caplog.text
    assert PROVIDER_SECRET not in caplog.text and CLIENT_SECRET not in caplog.text


def test_an_unknown_bearer_token_is_scrubbed_too(monkeypatch, caplog, scanned_logs):
    # An open gateway: the token is not a configured key, but may be the client's own key.
    monkeypatch.setitem(BACKEND_TYPES, "leaky", LEAKY)
    app = create_app({"TESTING": True, "MODELS": MODELS, "GATEWAY_API_KEYS": []})
    caplog.set_level(logging.INFO)
    chat(app.test_client(), "crash", token="sk-user-own-key-0042")
    assert "RuntimeError" in caplog.text and "sk-user-own-key-0042" not in caplog.text


def test_messages_with_arguments_are_scrubbed(leaky_client, caplog):
    logging.getLogger("app.test").warning("key %s and %s", PROVIDER_SECRET, CLIENT_SECRET)
    assert "key *** and ***" in caplog.text


def test_collect_finds_every_configured_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("TEAM_A", "team-a-secret-value")
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", "provider-from-env-name")
    monkeypatch.setenv("BACKEND_VAR", "backend-secret-value")
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(yaml.safe_dump({"keys": [{"name": "a", "key_env": "TEAM_A"}]}))
    models = {
        "backends": {"up": {"type": "mock", "api_key_env": "BACKEND_VAR"}},
        "models": [{"id": "m", "backend": "up"}],
    }
    app = create_app({"TESTING": True, "MODELS": models, "GATEWAY_API_KEYS": ["plain-client-key"]})
    app.config["KEYS_FILE"] = str(keys_file)
    found = redaction.collect(app)
    assert {
        "team-a-secret-value",
        "provider-from-env-name",
        "backend-secret-value",
        "plain-client-key",
    } <= found


def test_short_values_are_not_taken_for_secrets():
    # Scrubbing "dev" or "test" would garble every log line that holds the word.
    app = create_app({"TESTING": True, "MODELS": MODELS_MOCK, "GATEWAY_API_KEYS": ["dev"]})
    assert "dev" not in redaction.collect(app)
    assert redaction.scrub("key dev-key-123456", ["dev-key-123456"]) == "key ***"
