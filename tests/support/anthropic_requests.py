"""Shared setup for the Anthropic request unit tests: a mocked Messages API and the sent body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from tests.fakes import anthropic as fake
from tests.fakes.anthropic_wire import gateway_models, message

BASE = "https://api.anthropic.test"
KEY = "sk-ant-unit-key-7c1f"


@pytest.fixture
def config(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The test config with the Anthropic models, whose key `KEY` is in the environment."""
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", KEY)
    return {**config, "MODELS": gateway_models(BASE, "TEST_ANTHROPIC_KEY")}


@pytest.fixture
def upstream() -> Iterator[responses.RequestsMock]:
    """The mocked Messages API, answering every request with the text "Hi"."""
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST, f"{BASE}/v1/messages", json=message([{"type": "text", "text": "Hi"}])
        )
        yield mock


@contextmanager
def fake_messages_api() -> Iterator[responses.RequestsMock]:
    """The fake Anthropic API (tests/fakes/anthropic.py), with its request checks, behind the
    Messages API's URL."""
    fake_client = fake.app.test_client()

    def reply(request: Any) -> tuple[int, dict[str, str], bytes]:
        answer = fake_client.post("/v1/messages", data=request.body, headers=dict(request.headers))
        return answer.status_code, {"content-type": answer.content_type}, answer.get_data()

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.POST, f"{BASE}/v1/messages", callback=reply)
        yield mock


def sent(client: FlaskClient, upstream: responses.RequestsMock, **body: Any) -> dict[str, Any]:
    """POST a chat request through the gateway; return the JSON the backend sent upstream."""
    body.setdefault("model", "claude-3-haiku")
    body.setdefault("messages", [{"role": "user", "content": "Hello"}])
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.get_json()
    return json.loads(upstream.calls[-1].request.body)


def user(text: str) -> dict[str, Any]:
    """A user message of one text block, as the backend sends it to Anthropic."""
    return {"role": "user", "content": [{"type": "text", "text": text}]}
