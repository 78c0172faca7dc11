"""Two real gateways in a row: A's `openai` backend points at gateway B, which serves the mock."""

from __future__ import annotations

import time
import uuid

import openai
import pytest
import requests

from tests.fakes import endless_stream
from tests.support.openai_checks import (
    check_chat_completion,
    check_completion,
    check_embeddings,
    check_error,
    check_model_list,
)
from tests.support.servers import free_port, start_gateway

pytestmark = pytest.mark.slow

A_KEY = "sk-gateway-a-client"
B_KEY = "sk-SECRET-gateway-b-key"
HI = [{"role": "user", "content": "Say hi"}]


@pytest.fixture(scope="module")
def gateway_b(tmp_path_factory):
    """Gateway B: the mock, slowed down a little, behind its own key; at most `n` = 1."""
    models = {
        "backends": {"mock": {"type": "mock", "chunk_delay": 0.05}},
        "models": [
            {"id": "gpt-4o", "backend": "mock"},
            {"id": "mock", "backend": "mock"},
            {"id": "text-embedding-3-small", "backend": "mock"},
        ],
    }
    env = {"GATEWAY_API_KEYS": B_KEY, "GATEWAY_MAX_N": "1", "GUNICORN_GRACEFUL_TIMEOUT": "2"}
    server = start_gateway(tmp_path_factory.mktemp("gateway_b"), models, env=env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway_a(tmp_path_factory, gateway_b, endless):
    """Gateway A: `openai` backends pointing at B, at a closed port and at the endless fake."""
    models = {
        "backends": {
            "b": {
                "type": "openai",
                "base_url": f"{gateway_b.url}/v1",
                "api_key_env": "GATEWAY_B_KEY",
                "discover_models": True,
                "read_timeout": 30,
            },
            "dead": {
                "type": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "connect_timeout": 2,
            },
            "endless": {"type": "openai", "base_url": f"{endless.url}/v1"},
        },
        "models": [
            {"id": "via-b", "backend": "b", "model": "gpt-4o"},
            {"id": "embed-b", "backend": "b", "model": "text-embedding-3-small"},
            {
                "id": "flaky",
                "backend": "dead",
                "model": "gpt-4o",
                "retries": 1,
                "fallbacks": ["via-b"],
            },
            {"id": "endless", "backend": "endless"},
            {"id": "b/*", "backend": "b", "strip_prefix": "b/"},
        ],
    }
    env = {
        "GATEWAY_API_KEYS": A_KEY,
        "GATEWAY_B_KEY": B_KEY,
        "GATEWAY_RETRY_BACKOFF": "0.01",
        "LOG_LEVEL": "DEBUG",
        "GUNICORN_GRACEFUL_TIMEOUT": "2",
    }
    server = start_gateway(tmp_path_factory.mktemp("gateway_a"), models, env=env)
    yield server
    server.stop()


@pytest.fixture
def sdk(gateway_a):
    """An openai client for gateway A, closed after the test."""
    client = openai.OpenAI(base_url=f"{gateway_a.url}/v1", api_key=A_KEY, max_retries=0)
    yield client
    client.close()


def post(gateway_a, path: str, body: dict, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {A_KEY}"}
    return requests.post(
        f"{gateway_a.url}/v1{path}", json=body, headers=headers, timeout=30, **kwargs
    )


def test_chat_through_both_gateways(sdk, gateway_a):
    completion = sdk.chat.completions.create(model="via-b", messages=HI, extra_body={"top_k": 3})
    assert completion.model == "via-b"
    assert completion.choices[0].message.content.startswith('This is a mock reply to "Say hi"')
    response = post(gateway_a, "/chat/completions", {"model": "via-b", "messages": HI})
    assert response.status_code == 200
    assert response.headers["x-gateway-backend"] == "b/gpt-4o"
    check_chat_completion(response.json(), {"model": "via-b", "messages": HI})


def test_stream_through_both_gateways(sdk):
    chunks = list(
        sdk.chat.completions.create(
            model="via-b", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    assert {chunk.model for chunk in chunks} == {"via-b"}
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith('This is a mock reply to "Say hi"')
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_streams_reuse_the_pooled_connection_to_b(gateway_a, gateway_b):
    marker = f"127.0.0.1:{gateway_b.port}"

    def new_connections() -> int:
        # urllib3 logs a fresh connection, or a pooled one found closed and opened again.
        lines = gateway_a.output().splitlines()
        return sum(
            ("Starting new HTTP connection" in line and marker in line)
            or "Resetting dropped connection" in line
            for line in lines
        )

    body = {"model": "via-b", "messages": HI, "stream": True, "max_tokens": 3}
    post(gateway_a, "/chat/completions", body).raise_for_status()
    before = new_connections()
    for _ in range(3):
        assert post(gateway_a, "/chat/completions", body).text.endswith("data: [DONE]\n\n")
    assert new_connections() == before


def test_b_rejections_come_back_through_a(sdk):
    # A accepts n=2 (its limit is 16); B's limit is 1.
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="via-b", messages=HI, n=2)
    assert info.value.status_code == 400
    assert info.value.body["param"] == "n"
    check_error({"error": info.value.body}, 400)
    with pytest.raises(openai.NotFoundError) as info:
        sdk.chat.completions.create(model="b/no-such-model", messages=HI)
    assert info.value.status_code == 404
    assert info.value.body["param"] is None
    assert info.value.body["code"] == "model_not_found"
    assert B_KEY not in str(info.value.body)


def test_an_unreachable_upstream_falls_back_to_a_live_one(gateway_a):
    response = post(gateway_a, "/chat/completions", {"model": "flaky", "messages": HI})
    assert response.status_code == 200
    assert response.headers["x-gateway-backend"] == "b/gpt-4o"
    assert response.json()["model"] == "flaky"
    stream = post(
        gateway_a, "/chat/completions", {"model": "flaky", "messages": HI, "stream": True}
    )
    assert stream.status_code == 200
    assert stream.text.endswith("data: [DONE]\n\n")


def test_models_discovered_on_b_are_listed_by_a(sdk, gateway_a):
    response = requests.get(
        f"{gateway_a.url}/v1/models", headers={"Authorization": f"Bearer {A_KEY}"}, timeout=10
    )
    check_model_list(response.json())
    ids = [model["id"] for model in response.json()["data"]]
    assert ids[:4] == ["via-b", "embed-b", "flaky", "endless"]
    assert {"b/gpt-4o", "b/mock"} <= set(ids)
    assert sdk.models.retrieve("b/mock").id == "b/mock"
    reply = sdk.chat.completions.create(model="b/mock", messages=HI)
    assert reply.model == "b/mock"


def test_completions_and_embeddings_through_both_gateways(gateway_a):
    response = post(
        gateway_a, "/completions", {"model": "via-b", "prompt": "Say hi", "max_tokens": 5}
    )
    assert response.status_code == 200, response.text
    check_completion(response.json())
    assert response.json()["model"] == "via-b"
    stream = post(gateway_a, "/completions", {"model": "via-b", "prompt": "Say hi", "stream": True})
    assert stream.status_code == 200
    assert stream.text.endswith("data: [DONE]\n\n") and '"model":"via-b"' in stream.text
    body = {"model": "embed-b", "input": ["a", "b"], "dimensions": 8}
    response = post(gateway_a, "/embeddings", body)
    assert response.status_code == 200, response.text
    check_embeddings(response.json(), body)
    assert response.json()["model"] == "embed-b"
    assert [len(item["embedding"]) for item in response.json()["data"]] == [8, 8]


def stream_state(endless, name: str) -> dict:
    return requests.get(f"{endless.url}/streams/{name}", timeout=5).json()


def test_a_client_that_drops_its_stream_closes_the_upstream_stream(gateway_a, endless):
    name = f"drop-{uuid.uuid4().hex[:8]}"
    body = {"model": "endless", "messages": HI, "stream": True, "user": name}
    with post(gateway_a, "/chat/completions", body, stream=True) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        received = [line for line, _ in zip(lines, range(6), strict=False) if line]
        assert len(received) >= 3
        assert stream_state(endless, name)["state"] == "open"
    dropped = time.monotonic()
    sent_when_dropped = stream_state(endless, name)["sent"]
    # Upstream closing is observed by polling; the bound is generous for slow machines.
    while stream_state(endless, name)["state"] != "closed" and time.monotonic() - dropped < 10:
        time.sleep(0.05)
    state = stream_state(endless, name)
    assert state["state"] == "closed"
    # Counted in the upstream's own output rather than wall time: it stopped generating
    # within one second's worth of chunks after the client went away.
    assert state["sent"] - sent_when_dropped <= round(1 / endless_stream.DELAY)


def test_no_key_in_either_gateways_log(gateway_a, gateway_b, sdk):
    sdk.chat.completions.create(model="via-b", messages=HI)
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="b/no-such-model", messages=HI)
    for server in (gateway_a, gateway_b):
        log = server.output()
        assert B_KEY not in log and A_KEY not in log
    # A logs at DEBUG, upstream requests included: the check above covered them.
    assert '"POST /v1/chat/completions HTTP/1.1" 404' in gateway_a.output()
