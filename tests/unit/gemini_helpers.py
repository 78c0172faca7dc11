"""Helpers shared by the Gemini backend unit tests: an app wired to a mocked Gemini endpoint."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from app import create_app
from tests.fakes.gemini import candidate, gateway_models, response, usage_metadata

BASE = "https://gemini.test/v1beta"
KEY = "AIzaUnitTestKey0000000000"
KEY_ENV = "GEMINI_UNIT_KEY"
URL = f"{BASE}/models/gemini-2.5-flash:generateContent"
STREAM_URL = f"{BASE}/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
OK = response([candidate([{"text": "Hi!"}])], usage_metadata(5, 2))


def gemini_client(
    monkeypatch: pytest.MonkeyPatch, *, retries: int = 0, **options: Any
) -> FlaskClient:
    """A test client of a gateway whose `gemini` backend has `options` and a key in the env."""
    monkeypatch.setenv(KEY_ENV, KEY)
    models = gateway_models(BASE, KEY_ENV, **options)
    for route in models["models"]:
        route["retries"] = retries
    config = {
        "TESTING": True,
        "MODELS": models,
        "GATEWAY_API_KEYS": [],
        "RETRY_BACKOFF_BASE": 0.0,
        "RETRY_BACKOFF_MAX": 0.0,
    }
    return create_app(config).test_client()


def chat(client: FlaskClient, **body: Any):
    """POST a chat completion; `model` and `messages` have defaults."""
    body.setdefault("model", "gpt-4o")
    body.setdefault("messages", [{"role": "user", "content": "Hi"}])
    return client.post("/v1/chat/completions", json=body)


def sent(upstream: responses.RequestsMock, index: int = -1) -> dict[str, Any]:
    """The JSON body of a request the backend sent upstream."""
    return json.loads(upstream.calls[index].request.body)


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """An assistant tool call as a client sends it back."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
