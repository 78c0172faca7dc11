"""Shared fixtures: the app built with a test config, its client, and a real gateway process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app import create_app
from tests.support.servers import ROOT, start_gateway

# The reliability suites hand what they capture to a session-wide secret scan.
pytest_plugins = ["tests.support.secret_scan", "tests.support.scripted_upstream"]

# Offline BPE files for tiktoken; when absent the gateway approximates token counts.
_TIKTOKEN_CACHE = ROOT.parent / "shared" / "tiktoken_cache"
if _TIKTOKEN_CACHE.is_dir():
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(_TIKTOKEN_CACHE))

MOCK_MODELS = {
    "backends": {"mock": {"type": "mock"}},
    "models": [
        {"id": "mock", "backend": "mock"},
        {"id": "gpt-4o", "backend": "mock"},
        {"id": "mock/*", "backend": "mock", "strip_prefix": "mock/"},
    ],
}


CLIENT_KEY = "sk-test-client"
# A small but real pause between streamed tokens, so that each chunk's departure is observable.
CHUNK_DELAY = 0.02
GATEWAY_MODELS = {
    "backends": {"mock": {"type": "mock", "chunk_delay": CHUNK_DELAY}},
    "models": [
        {"id": model_id, "backend": "mock"}
        for model_id in (
            "mock",
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4",
            "gpt-3.5-turbo",
            "gpt-3.5-turbo-instruct",
            "text-embedding-3-small",
        )
    ]
    + [{"id": "mock/*", "backend": "mock", "strip_prefix": "mock/"}],
}


@pytest.fixture
def config() -> dict:
    """The test config mapping; tests may edit it before using `app`."""
    return {"TESTING": True, "MODELS": MOCK_MODELS, "GATEWAY_API_KEYS": []}


@pytest.fixture
def app(config):
    """A gateway app built from the test config."""
    return create_app(config)


@pytest.fixture
def client(app):
    """Flask's test client for `app`."""
    return app.test_client()


@pytest.fixture(scope="session")
def gateway_server(tmp_path_factory):
    """A real gunicorn gateway (the Procfile's command): mock models with a chunk delay, one key."""
    tmp: Path = tmp_path_factory.mktemp("gateway")
    server = start_gateway(
        tmp, GATEWAY_MODELS, env={"GATEWAY_API_KEYS": CLIENT_KEY, "LOG_LEVEL": "INFO"}
    )
    yield server
    server.stop()
