"""Clients for the end-to-end tests; every byte they read is checked by openai_checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from tests.conftest import CLIENT_KEY
from tests.support.fault_cells import start_faulty_upstream
from tests.support.recording import RecordingTransport
from tests.support.servers import gunicorn_app


@pytest.fixture
def recorder() -> Iterator[RecordingTransport]:
    """Records the traffic of the test's clients; checks every response and chunk afterwards."""
    transport = RecordingTransport()
    yield transport
    transport.close()
    assert transport.verify() > 0, "no request went through the recording transport"


@pytest.fixture
def make_sdk(gateway_server, recorder) -> Iterator[Callable[..., openai.OpenAI]]:
    """Build an `openai.OpenAI` client on the gateway (key and options overridable)."""
    clients: list[openai.OpenAI] = []

    def make(api_key: str = CLIENT_KEY, **options: Any) -> openai.OpenAI:
        client = openai.OpenAI(
            base_url=f"{gateway_server.url}/v1",
            api_key=api_key,
            max_retries=0,
            http_client=httpx.Client(transport=recorder, timeout=30),
            **options,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def sdk(make_sdk) -> openai.OpenAI:
    """The official SDK with the gateway's client key."""
    return make_sdk()


@pytest.fixture
def chat_model(gateway_server, recorder) -> Callable[..., ChatOpenAI]:
    """Build a LangChain `ChatOpenAI` on the gateway (options overridable)."""

    def make(**options: Any) -> ChatOpenAI:
        settings: dict[str, Any] = {
            "model": "gpt-4o",
            "base_url": f"{gateway_server.url}/v1",
            "api_key": CLIENT_KEY,
            "max_retries": 0,
            "http_client": httpx.Client(transport=recorder, timeout=30),
        }
        return ChatOpenAI(**{**settings, **options})

    return make


@pytest.fixture(scope="module")
def endless(tmp_path_factory):
    """A fake upstream whose streams never end and that reports when they are closed."""
    server = gunicorn_app("tests.fakes.endless_stream:app", tmp_path_factory.mktemp("endless"))
    server.wait_ready("/health")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def faulty_upstream(request, tmp_path_factory, secret_scan):
    """The faulty upstream (tests/fakes/faulty_upstream.py) on a free port, one per module; what
    it printed is scanned for secrets (its `http_401` and `http_400` answers quote the key they
    got)."""
    server = start_faulty_upstream(tmp_path_factory.mktemp("faulty"))
    yield server
    server.stop()
    secret_scan.add(f"faulty upstream output ({request.module.__name__})", server.output())
