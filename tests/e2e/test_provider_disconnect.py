"""A client that drops a stream from an `anthropic` or `gemini` backend: the upstream is let go.

The endless fake (tests/fakes/endless_stream.py) streams in each provider's format and names
a stream by the text of the last user message; it reports whether its connection is still
open, watching it while it waits between deltas.
"""

from __future__ import annotations

import socket
import uuid

import openai
import pytest

from tests.fakes.endless_providers import ANTHROPIC_KEY, GEMINI_KEY
from tests.support.endless import KEY, raw_request, state, wait_for
from tests.support.gateway_log import entry_for
from tests.support.servers import start_gateway

pytestmark = pytest.mark.slow

MODELS = ["endless-claude", "endless-gemini"]
# What the gateway relays for the fake's first text delta.
FIRST = b'"content":" word0"'


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, endless):
    """The gateway with one route to each provider backend, both pointed at the endless fake."""
    models = {
        "backends": {
            "claude": {
                "type": "anthropic",
                "base_url": endless.url,
                "api_key_env": "E2E_ENDLESS_ANTHROPIC_KEY",
            },
            "gemini": {
                "type": "gemini",
                "base_url": f"{endless.url}/v1beta",
                "api_key_env": "E2E_ENDLESS_GEMINI_KEY",
            },
        },
        "models": [
            {"id": "endless-claude", "backend": "claude", "model": "claude-endless"},
            {"id": "endless-gemini", "backend": "gemini", "model": "gemini-endless"},
        ],
    }
    env = {
        "GATEWAY_API_KEYS": KEY,
        "E2E_ENDLESS_ANTHROPIC_KEY": ANTHROPIC_KEY,
        "E2E_ENDLESS_GEMINI_KEY": GEMINI_KEY,
    }
    server = start_gateway(tmp_path_factory.mktemp("provider-disconnect"), models, env=env)
    yield server
    server.stop()


def fresh_name(model: str) -> str:
    """A stream name no other test uses; it is also the prompt and the request id."""
    return f"drop-{model}-{uuid.uuid4().hex[:8]}"


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    """Bytes from `sock` up to and including `marker` (fails if the peer ends first)."""
    received = b""
    while marker not in received:
        chunk = sock.recv(65536)
        assert chunk, received
        received += chunk
    return received


def assert_cut_by_client(gateway, request_id: str, model: str) -> None:
    """The request log has the stream as cut by its client: begun (200), no upstream error."""
    entry = entry_for(gateway, request_id)
    assert (entry["status"], entry["stream"], entry["model"]) == (200, True, model)
    assert entry["stream_error"] is None and entry["client_left"] is True
    assert f"stream {request_id} closed before its end (client went away)" in gateway.output()


@pytest.mark.parametrize("model", MODELS)
def test_the_fake_sees_its_own_reader_leave(endless, model):
    # The check the tests below rely on: open while read, closed once the reader is gone.
    name = fresh_name(model)
    if model == "endless-claude":
        path = "/v1/messages"
        headers = f"x-api-key: {ANTHROPIC_KEY}\r\nanthropic-version: 2023-06-01\r\n"
        content = {"role": "user", "content": name}
        body = {"model": "claude-endless", "max_tokens": 10, "stream": True, "messages": [content]}
    else:
        path = "/v1beta/models/gemini-endless:streamGenerateContent?alt=sse"
        headers = f"x-goog-api-key: {GEMINI_KEY}\r\n"
        body = {"contents": [{"role": "user", "parts": [{"text": name}]}]}
    data = raw_request(body).partition(b"\r\n\r\n")[2]
    head = (
        f"POST {path} HTTP/1.1\r\nHost: fake\r\n{headers}Content-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", endless.port), timeout=10) as sock:
        sock.sendall(head.encode() + data)
        assert b" 200 OK" in read_until(sock, b" word0")
        read_until(sock, b" word3")
        assert state(endless, name)["state"] == "open"
    assert wait_for(lambda: state(endless, name)["state"] == "closed")


@pytest.mark.parametrize("model", MODELS)
def test_a_raw_client_that_leaves_after_the_first_chunk_closes_the_upstream(
    gateway, endless, model
):
    name = fresh_name(model)
    body = {"model": model, "messages": [{"role": "user", "content": name}], "stream": True}
    request = raw_request(body).replace(
        b"Host: gateway\r\n", f"Host: gateway\r\nX-Request-ID: {name}\r\n".encode()
    )
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(request)
        read_until(sock, FIRST)
        assert state(endless, name)["state"] == "open"
    # Left alone, the fake streams for two minutes (LIMIT deltas DELAY apart).
    assert wait_for(lambda: state(endless, name)["state"] == "closed")
    assert_cut_by_client(gateway, name, model)


@pytest.mark.parametrize("model", MODELS)
def test_an_sdk_client_that_breaks_off_its_stream_closes_the_upstream(gateway, endless, model):
    name = fresh_name(model)
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0) as client:
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": name}],
            stream=True,
            extra_headers={"X-Request-ID": name},
            timeout=30,
        )
        with stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    break
            assert chunk.choices[0].delta.content == " word0"
            assert state(endless, name)["state"] == "open"
    assert wait_for(lambda: state(endless, name)["state"] == "closed")
    assert_cut_by_client(gateway, name, model)
