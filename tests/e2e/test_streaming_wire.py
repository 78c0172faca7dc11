"""Streams on the wire: exact bytes, headers, [DONE], chunks sent as made, and disconnects."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.conftest import CLIENT_KEY
from tests.support import openai_checks as checks
from tests.support.sse import iter_sse

pytestmark = pytest.mark.slow

PROMPT = [{"role": "user", "content": "Stream a reply about the gateway"}]


def _url(server) -> str:
    return f"{server.url}/v1/chat/completions"


@pytest.mark.parametrize("include_usage", [False, True], ids=["plain", "usage"])
def test_raw_stream_bytes_and_headers(gateway_server, include_usage):
    request = {"model": "gpt-4o", "messages": PROMPT, "stream": True}
    if include_usage:
        request["stream_options"] = {"include_usage": True}
    result = checks.post_sse(_url(gateway_server), request, CLIENT_KEY)
    assert result.status == 200
    assert result.headers["Content-Type"].startswith("text/event-stream")
    assert result.headers["Cache-Control"] == "no-cache"
    assert result.headers["X-Accel-Buffering"] == "no"
    assert result.events[-1].raw == b"data: [DONE]\n\n"
    assert all(event.raw.startswith(b"data: ") for event in result.events)
    assembled = checks.check_chat_sse(result.data, request)
    assert assembled["choices"][0]["message"]["content"]
    assert ("usage" in assembled) is include_usage


def test_chunks_leave_the_server_as_they_are_made(gateway_server):
    request = {"model": "gpt-4o", "messages": PROMPT, "stream": True}
    result = checks.post_sse(_url(gateway_server), request, CLIENT_KEY)
    checks.check_chat_sse(result.data, request)
    arrivals = [event.arrived for event in result.events]
    total = arrivals[-1] - result.started
    spread = arrivals[-1] - arrivals[0]
    # Tokens are produced over time (chunk_delay); a buffered response would deliver them all
    # at once at the end, so the first chunk must arrive long before the last.
    assert spread > 0.5 * total, f"first chunk after {arrivals[0] - result.started:.3f}s of {total}"


def test_client_disconnect_mid_stream_releases_the_stream(gateway_server):
    request = {"model": "gpt-4o", "messages": PROMPT, "stream": True, "max_tokens": 40}
    headers = {"Authorization": f"Bearer {CLIENT_KEY}", "X-Request-ID": "disconnect-e2e-1"}
    with requests.post(
        _url(gateway_server), json=request, headers=headers, stream=True, timeout=30
    ) as resp:
        events = iter_sse(resp)
        checks.check_chat_chunk(json.loads(next(events).data))
    # The worker notices at its next write and closes the body, which logs the early end.
    deadline = time.monotonic() + 10
    while "stream disconnect-e2e-1 closed before its end" not in gateway_server.output():
        assert time.monotonic() < deadline, gateway_server.output()[-2000:]
        time.sleep(0.05)
    result = checks.post_sse(_url(gateway_server), request, CLIENT_KEY)
    checks.check_chat_sse(result.data, request)


def test_error_before_streaming_is_plain_json(gateway_server):
    request = {"model": "no-such-model", "messages": PROMPT, "stream": True}
    result = checks.post_sse(_url(gateway_server), request, CLIENT_KEY)
    assert result.status == 404 and result.headers["Content-Type"] == "application/json"
    assert checks.check_error(result.json(), 404).code == "model_not_found"
