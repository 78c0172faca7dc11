"""The t3chat preset end to end: openai SDK → gunicorn gateway → fake t3.chat (both formats)."""

from __future__ import annotations

import json
import time

import openai
import pytest
import yaml

from tests.fakes.t3chat import COOKIES, SESSION_ID
from tests.support.servers import ROOT, gunicorn_app, start_gateway

pytestmark = pytest.mark.slow

KEY = f"{COOKIES}:{SESSION_ID}"
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def fake_t3(tmp_path_factory):
    """The fake t3.chat server."""
    server = gunicorn_app("tests.fakes.t3chat:app", tmp_path_factory.mktemp("fake_t3"))
    server.wait_ready("/health")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def models(fake_t3) -> dict:
    """The shipped preset pointed at the fake, plus `sse/*` routed to its SSE variant."""
    data = yaml.safe_load((ROOT / "config/presets/t3chat.yaml").read_text())
    data["backends"]["t3chat"]["base_url"] = fake_t3.url
    data["backends"]["t3sse"] = {"type": "t3chat", "base_url": f"{fake_t3.url}/sse"}
    data["models"].insert(0, {"id": "sse/*", "backend": "t3sse", "strip_prefix": "sse/"})
    return data


@pytest.fixture(scope="module")
def key_gateway(tmp_path_factory, models):
    """An open gateway without server-side credentials: clients send `<cookies>:<session>`."""
    env = {"GATEWAY_API_KEYS": "", "COOKIES": "", "CONVEX_SESSION_ID": "", "LOG_LEVEL": "DEBUG"}
    server = start_gateway(tmp_path_factory.mktemp("t3_key"), models, env=env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def env_gateway(tmp_path_factory, models):
    """A gateway holding the credentials itself, behind its own client key."""
    env = {"GATEWAY_API_KEYS": "sk-gw", "COOKIES": COOKIES, "CONVEX_SESSION_ID": SESSION_ID}
    server = start_gateway(tmp_path_factory.mktemp("t3_env"), models, env=env)
    yield server
    server.stop()


@pytest.fixture
def sdk():
    """Makes openai clients for a server; closed after the test so no keep-alive outlives it."""
    clients: list[openai.OpenAI] = []

    def make(server, api_key: str = KEY) -> openai.OpenAI:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=api_key, max_retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.mark.parametrize(
    "model, upstream",
    [
        ("gpt-4o", "gemini-2.5-flash"),
        ("gpt-3.5-turbo", "gemini-2.5-flash-lite"),
        ("sse/x-1", "x-1"),
    ],
)
def test_completion_through_the_preset(key_gateway, model, upstream, sdk):
    completion = sdk(key_gateway).chat.completions.create(model=model, messages=HI)
    assert completion.model == model
    message = completion.choices[0].message
    assert message.content == f"Hello from t3 — grüße 👋 and [{upstream}] you said: Hi"
    assert completion.choices[0].finish_reason == "stop"
    assert isinstance(completion.usage.completion_tokens, int)
    assert completion.usage.completion_tokens > 0


@pytest.mark.parametrize("model", ["claude-3-sonnet", "sse/claude-3-opus"])
def test_stream_through_the_preset(key_gateway, model, sdk):
    stream = sdk(key_gateway).chat.completions.create(
        model=model, messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "grüße 👋" in text and text.endswith("you said: Hi")
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens > 0


@pytest.mark.parametrize("model", ["fake-slow", "sse/fake-slow"])
def test_chunks_arrive_as_the_upstream_sends_them(key_gateway, model, sdk):
    started = time.monotonic()
    arrivals = []
    stream = sdk(key_gateway).chat.completions.create(model=model, messages=HI, stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic())
    assert len(arrivals) == 4
    # Relayed chunks spread over the time the fake took; a buffered answer arrives all at once.
    spread, total = arrivals[-1] - arrivals[0], arrivals[-1] - started
    assert spread > 0.5 * total


def test_system_prompt_is_folded_into_the_first_user_turn(key_gateway, sdk):
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Salut"},
        {"role": "user", "content": "Again"},
    ]
    completion = sdk(key_gateway).chat.completions.create(model="fake-dump", messages=messages)
    received = json.loads(completion.choices[0].message.content)
    assert [t["role"] for t in received["turns"]] == ["user", "assistant", "user"]
    first = received["turns"][0]["text"]
    assert first.startswith("[System instructions]\nAnswer in French.\n")
    assert first.endswith("\n\nHi")
    assert received["modelParams"] == {"reasoningEffort": "low", "includeSearch": False}


def test_server_side_credentials_with_gateway_keys(env_gateway, sdk):
    completion = sdk(env_gateway, "sk-gw").chat.completions.create(model="gpt-4o", messages=HI)
    assert completion.choices[0].message.content.endswith("you said: Hi")
    with pytest.raises(openai.AuthenticationError):
        sdk(env_gateway, KEY).chat.completions.create(model="gpt-4o", messages=HI)


def test_missing_and_refused_credentials(key_gateway, sdk):
    with pytest.raises(openai.AuthenticationError) as info:
        sdk(key_gateway, "sk-no-colon").chat.completions.create(model="gpt-4o", messages=HI)
    assert "CONVEX_SESSION_ID" in info.value.message
    with pytest.raises(openai.AuthenticationError) as info:
        sdk(key_gateway, "a=b:c:wrong").chat.completions.create(model="gpt-4o", messages=HI)
    assert "expired or were refused" in info.value.message


@pytest.mark.parametrize(
    "model, error, status",
    [
        ("fake-html", openai.AuthenticationError, 401),
        ("sse/fake-challenge", openai.PermissionDeniedError, 403),
        ("fake-limited", openai.RateLimitError, 429),
        ("fake-garbage", openai.APIStatusError, 502),
    ],
)
def test_upstream_failures(key_gateway, model, error, status, sdk):
    for stream in (False, True):
        with pytest.raises(error) as info:
            sdk(key_gateway).chat.completions.create(model=model, messages=HI, stream=stream)
        assert info.value.status_code == status
    if status == 429:
        assert info.value.response.headers["retry-after"] == "7"


@pytest.mark.parametrize("model", ["fake-midway-error", "sse/fake-midway-error"])
def test_mid_stream_error_reaches_the_client(key_gateway, model, sdk):
    stream = sdk(key_gateway).chat.completions.create(model=model, messages=HI, stream=True)
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            received.append(chunk)
    assert any(c.choices and c.choices[0].delta.content for c in received)
    assert "The model is overloaded" in info.value.message


def test_gateway_logs_hold_no_credentials(key_gateway, env_gateway, sdk):
    client = sdk(key_gateway)
    assert list(client.chat.completions.create(model="gpt-4o", messages=HI, stream=True))
    for model in ("fake-html", "fake-garbage", "fake-midway-error"):
        with pytest.raises(openai.APIError):
            list(client.chat.completions.create(model=model, messages=HI, stream=True))
    # The key gateway logs at DEBUG, so upstream request logging is covered too.
    for server in (key_gateway, env_gateway):
        output = server.output()
        assert "t3chat" in output or server is env_gateway
        for secret in (COOKIES, SESSION_ID, "fake:sealed:value", "clear:ance-0042"):
            assert secret not in output
