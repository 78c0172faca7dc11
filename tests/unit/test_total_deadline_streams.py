"""`total_timeout` bounds the wait for the first chunk of an `anthropic` or `gemini` stream.

Until the client would get its first chunk, no read of the stream may outlast the deadline,
whatever `read_timeout` allows: an upstream that sends its headers and then nothing, only
Anthropic `ping`s, or only events that give the client nothing (`message_start`, an empty
text block, a Gemini event without candidates) is a 504 at the deadline. Upstreams are
scripted on real sockets and stay silent far past `TOTAL` but well under `READ`: the old
behaviour waited for them, so the "well before" bound cannot pass by chance.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests.fakes import anthropic_wire as claude
from tests.fakes import gemini
from tests.support.openai_upstream import chat_body, make_app, sse_payloads
from tests.support.scripted_upstream import CHUNKED, Scripted, chunk

READ = 10.0
TOTAL = 0.5
# Far past the deadline, short of the read timeout: the old behaviour waited this long.
SILENCE = 0.8 * READ
WELL_BEFORE = READ / 2
LATE_EVENT = "Upstream `up` did not send the first event of its stream in time."
END = b"0\r\n\r\n"
Script = list[tuple[bytes | None, float]]


def pinging(head: bytes) -> Script:
    """`head`, then an Anthropic `ping` every 0.1 s for as long as `SILENCE`."""
    return [(head, 0), *[(chunk(claude.sse(claude.PING)), 0.1)] * int(SILENCE * 10)]


START = claude.sse(claude.start())
SILENT_ANTHROPIC = {
    "nothing": [(CHUNKED, 0), (None, SILENCE)],
    "pings": pinging(CHUNKED),
    "message-start": [(CHUNKED + chunk(START), 0), (None, SILENCE)],
    "message-start-then-pings": pinging(CHUNKED + chunk(START)),
    # A text block starts empty: still nothing for the client.
    "empty-block": [
        (CHUNKED + chunk(START + claude.sse(claude.text_block(0))), 0),
        (None, SILENCE),
    ],
    "half-an-event": [(CHUNKED + chunk(START[:20]), 0), (None, SILENCE)],
}
USAGE_ONLY = gemini.sse({"usageMetadata": gemini.usage_metadata(5, 0)})
SILENT_GEMINI = {
    "nothing": [(CHUNKED, 0), (None, SILENCE)],
    "no-candidates": [(CHUNKED + chunk(USAGE_ONLY), 0), (None, SILENCE)],
    "half-an-event": [(CHUNKED + chunk(USAGE_ONLY[:20]), 0), (None, SILENCE)],
}
BASE_PATHS = {"anthropic": "", "gemini": "/v1beta"}


@pytest.fixture
def gateway(monkeypatch) -> Iterator[Callable[..., Flask]]:
    """A gateway app whose backend `up` (of `kind`, `READ` / `TOTAL`) is one scripted upstream
    serving `scripts` in turn."""
    servers: list[Scripted] = []

    def start(kind: str, *scripts: Script, retries: int = 0) -> Flask:
        server = Scripted(list(scripts))
        servers.append(server)
        url = f"http://127.0.0.1:{server.port}{BASE_PATHS[kind]}"
        backend = {"type": kind, "base_url": url, "read_timeout": READ, "total_timeout": TOTAL}
        models = [{"id": "gw", "backend": "up", "model": "real-model", "retries": retries}]
        return make_app(monkeypatch, backend=backend, models=models)

    yield start
    for server in servers:
        server.close()


def stream(app: Flask) -> tuple[int, bytes, dict | None, float]:
    """Status, body, JSON error body (if any) and seconds taken of one streamed chat request."""
    begun = time.monotonic()
    response = app.test_client().post("/v1/chat/completions", json=chat_body(stream=True))
    body = response.get_data()
    took = time.monotonic() - begun
    return response.status_code, body, response.get_json(silent=True), took


@pytest.mark.parametrize(
    ("kind", "script"),
    [
        *[pytest.param("anthropic", s, id=f"anthropic-{n}") for n, s in SILENT_ANTHROPIC.items()],
        *[pytest.param("gemini", s, id=f"gemini-{n}") for n, s in SILENT_GEMINI.items()],
    ],
)
def test_a_stream_without_a_first_chunk_is_a_504_at_the_deadline(gateway, kind, script):
    status, _, error, took = stream(gateway(kind, script))
    assert took < WELL_BEFORE, f"the 504 took {took:.1f} s"
    assert status == 504
    assert error is not None and error["error"]["message"] == LATE_EVENT
    assert error["error"]["code"] == "upstream_timeout"


ANTHROPIC_FIRST = claude.sse(*claude.TEXT_EVENTS[:4])
ANTHROPIC_REST = claude.sse(*claude.TEXT_EVENTS[4:])
GEMINI_FIRST = gemini.sse(gemini.response([gemini.candidate([{"text": "Hi"}], finish=None)]))
GEMINI_REST = gemini.sse(gemini.response([gemini.candidate([{"text": "!"}])]))
LIVE = {
    "anthropic": (ANTHROPIC_FIRST, ANTHROPIC_REST, "Héllo wörld 👋 — ok"),
    "gemini": (GEMINI_FIRST, GEMINI_REST, "Hi!"),
}


@pytest.mark.parametrize("kind", LIVE)
def test_after_its_first_chunk_a_stream_waits_the_read_timeout_again(gateway, kind):
    first, rest, text = LIVE[kind]
    script = [(CHUNKED + chunk(first), 0), (chunk(rest), 2 * TOTAL), (END, 0)]
    status, body, _, _ = stream(gateway(kind, script))
    assert status == 200
    payloads = sse_payloads(body)
    assert payloads[-1] == "[DONE]"
    assert content(payloads) == text


def content(payloads: list[Any]) -> str:
    """The text the chunks of a stream carry."""
    chunks = [p for p in payloads if p != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@pytest.mark.parametrize("kind", LIVE)
def test_a_late_first_chunk_is_retried_since_the_client_has_nothing_yet(gateway, kind):
    first, rest, text = LIVE[kind]
    silent: Script = [(CHUNKED, 0), (None, SILENCE)]
    app = gateway(kind, silent, [(CHUNKED + chunk(first + rest), 0), (END, 0)], retries=1)
    status, body, _, took = stream(app)
    assert took < WELL_BEFORE
    assert status == 200
    assert content(sse_payloads(body)) == text
