"""Shared setup for the t3chat unit tests: a gateway routed to a mocked t3chat, and chat helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.fakes.t3chat import COOKIES, SESSION_ID

UPSTREAM = "https://t3.test/api/chat"
KEY = f"{COOKIES}:{SESSION_ID}"
AUTH = {"Authorization": f"Bearer {KEY}"}
MESSAGES = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}]


@pytest.fixture
def config() -> dict[str, Any]:
    """A gateway config with no server credentials, routing every model to the t3chat backend."""
    return {
        "TESTING": True,
        "GATEWAY_API_KEYS": [],
        "T3_COOKIES": "",
        "T3_CONVEX_SESSION_ID": "",
        "MODELS": {
            "backends": {"t3": {"type": "t3chat", "base_url": "https://t3.test/"}},
            "models": [
                {"id": "gpt-4o", "backend": "t3", "model": "gemini-2.5-flash"},
                {"id": "*", "backend": "t3"},
            ],
        },
    }


@pytest.fixture
def upstream() -> Iterator[responses.RequestsMock]:
    """The mocked t3chat endpoint; a test adds the answers it needs."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def chat(
    client: FlaskClient, stream: bool = False, headers: dict[str, str] = AUTH, **body: Any
) -> TestResponse:
    """POST `MESSAGES` to gpt-4o with the session key as bearer; `body` adds or overrides fields."""
    payload = {"model": "gpt-4o", "messages": MESSAGES, "stream": stream, **body}
    return client.post("/v1/chat/completions", json=payload, headers=headers)


def sse_payloads(response: TestResponse) -> list[str]:
    """The `data:` payloads of a streamed response, checking that every event is one."""
    events = [e for e in response.get_data(as_text=True).split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    return [e.removeprefix("data: ") for e in events]
