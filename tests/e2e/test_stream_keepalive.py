"""Keep-alive comments through a real gateway (gunicorn, gevent): a stream whose upstream is
quiet, before its first event or between two, gets `: keep-alive` instead of silence, and
clients (the official SDK, LangChain) read it as if nothing had been sent.

The upstream is the endless fake (tests/fakes/endless_stream.py), told to send its headers,
then pause; the gateway's keep-alive period is shortened to 0.3 s, and the pauses are several
periods long.
"""

from __future__ import annotations

import json
import socket
import uuid

import openai
import pytest
from langchain_openai import ChatOpenAI

from tests.fakes.endless_providers import ANTHROPIC_KEY
from tests.support.endless import KEY, raw_request, state, wait_for
from tests.support.gateway_log import entry_for
from tests.support.servers import start_gateway

pytestmark = pytest.mark.slow

PERIOD = 0.3
PAUSE = 1.5  # five periods
COMMENT = b": keep-alive\n\n"
HI = [{"role": "user", "content": "Think hard"}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, endless):
    """The gateway with a 0.3 s keep-alive period in front of the endless fake."""
    quick = {"type": "openai", "base_url": f"{endless.url}/v1", "total_timeout": 1.0}
    models = {
        "backends": {
            "endless": {"type": "openai", "base_url": f"{endless.url}/v1"},
            # A stream whose first event is not in 1 s fails, after the response started.
            "deadline": quick,
            "claude": {
                "type": "anthropic",
                "base_url": endless.url,
                "api_key_env": "E2E_ENDLESS_ANTHROPIC_KEY",
            },
        },
        "models": [
            {"id": "endless", "backend": "endless"},
            {"id": "endless-deadline", "backend": "deadline", "retries": 2},
            {"id": "endless-claude", "backend": "claude", "model": "claude-endless"},
        ],
    }
    env = {
        "GATEWAY_API_KEYS": KEY,
        "STREAM_KEEPALIVE_SECONDS": str(PERIOD),
        "E2E_ENDLESS_ANTHROPIC_KEY": ANTHROPIC_KEY,
    }
    server = start_gateway(tmp_path_factory.mktemp("keepalive"), models, env=env)
    yield server
    server.stop()


def read_stream(gateway, body: dict) -> tuple[bytes, list[bytes]]:
    """Send `body` on a raw connection; the response's head and its body's SSE blocks in
    order (chunked framing taken off), read to the end of the body."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        sock.sendall(raw_request(body))
        received = b""
        while not received.endswith(b"\r\n0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    head, _, body_bytes = received.partition(b"\r\n\r\n")
    blocks, rest = [], body_bytes
    while True:
        size, _, rest = rest.partition(b"\r\n")
        length = int(size, 16)
        if length == 0:
            return head, blocks
        blocks.append(rest[:length])
        rest = rest[length + 2 :]


def test_comments_fill_the_silence_before_the_first_event_and_between_events(gateway):
    body = {
        "model": "endless",
        "messages": HI,
        "stream": True,
        "chunks": 2,
        "pause_before": PAUSE,
        "pause_between": PAUSE,
        "headers_first": True,
        "user": f"quiet-{uuid.uuid4().hex[:8]}",
    }
    head, blocks = read_stream(gateway, body)
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"content-type: text/event-stream" in head.lower()
    # Every block is a whole event or a whole comment.
    assert set(blocks) - {COMMENT} == {b for b in blocks if b.startswith(b"data: ")}
    data = [i for i, block in enumerate(blocks) if block != COMMENT]
    # The response started with a comment; comments came between the quiet events.
    assert blocks[0] == COMMENT
    role, word0, word1 = data[0], data[1], data[2]
    assert COMMENT in blocks[role + 1 : word0] and COMMENT in blocks[word0 + 1 : word1]
    contents = [json.loads(blocks[i][6:])["choices"][0]["delta"].get("content") for i in data[:3]]
    assert contents == ["", " word0", " word1"]
    assert blocks[-1].endswith(b"data: [DONE]\n\n")


def test_the_sdk_and_langchain_read_a_kept_alive_stream_as_a_plain_one(gateway):
    extra = {"chunks": 2, "pause_before": PAUSE, "pause_between": PAUSE, "headers_first": True}
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="endless", messages=HI, stream=True, extra_body=extra
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == " word0 word1"
    chat = ChatOpenAI(
        model="endless", base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0, extra_body=extra
    )
    assert "".join(part.content for part in chat.stream("Think hard")) == " word0 word1"


def test_a_failure_after_the_response_started_is_the_stream_s_error_event(gateway, endless):
    # The first event is due within 1 s (total_timeout); the response started at 0.3 s.
    name = f"late-{uuid.uuid4().hex[:8]}"
    late = {"pause_before": 60, "headers_first": True}
    body = {"model": "endless-deadline", "messages": HI, "stream": True, **late}
    head, blocks = read_stream(gateway, {**body, "user": name})
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert blocks[0] == COMMENT
    error = json.loads(blocks[-1].removeprefix(b"data: "))["error"]
    assert error["code"] == "upstream_timeout" and error["type"] == "timeout"
    # Once started, the stream is not retried (the model has retries: 2).
    assert state(endless, name)["requests"] == 1
    assert wait_for(lambda: state(endless, name)["state"] == "closed")
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)
    stream = client.chat.completions.create(
        model="endless-deadline", messages=HI, stream=True, extra_body=late
    )
    with pytest.raises(openai.APIError, match="did not send the first event"):
        list(stream)


def test_a_client_that_leaves_a_started_stream_before_its_first_event_ends_the_upstream(
    gateway, endless
):
    name = f"gone-{uuid.uuid4().hex[:8]}"
    late = {"pause_before": 60, "headers_first": True, "user": name}
    body = {"model": "endless", "messages": HI, "stream": True, **late}
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(raw_request(body).replace(b"Host:", f"X-Request-ID: {name}\r\nHost:".encode()))
        received = b""
        while COMMENT not in received:
            received += sock.recv(65536)
    assert wait_for(lambda: state(endless, name)["state"] == "closed")
    assert state(endless, name)["sent"] == 0
    assert entry_for(gateway, name)["client_left"] is True


def test_an_anthropic_model_thinking_before_its_first_token_is_kept_alive(gateway):
    # The fake sends message_start and pings for 1.5 s: nothing a client is shown.
    prompt = f"think{PAUSE}-{uuid.uuid4().hex[:8]}"
    body = {
        "model": "endless-claude",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "max_tokens": 50,
    }
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as sock:
        sock.sendall(raw_request(body))
        received = b""
        while b" word0" not in received:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
    body_bytes = received.partition(b"\r\n\r\n")[2]
    first_data = body_bytes.index(b"data: ")
    assert body_bytes[:first_data].count(COMMENT) >= 2
    assert b'"role":"assistant"' in body_bytes[first_data:]
