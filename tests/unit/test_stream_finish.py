"""After `[DONE]`: the client's stream ends at once, whatever the upstream does next.

The rest of the upstream body is read only if it ends promptly, and only then does the
connection serve again; a stall or pings after `[DONE]` cost the connection, never the
client's wait. A scripted upstream on real sockets, with a 30 s read timeout: the old
behaviour waited that long, so the generous bounds here cannot pass by chance.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import pytest

from app.backends.http import UpstreamHTTP
from app.backends.openai.rewrite import ModelRewriter
from app.backends.openai.stream import DONE, relay
from app.errors import UpstreamError
from tests.support.openai_upstream import chat_body, make_app, sse_payloads
from tests.support.scripted_upstream import CHUNKED, Scripted, chunk

EVENT = b'data: {"model":"up","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
ANSWER = CHUNKED + chunk(EVENT) + chunk(DONE)
END = b"0\r\n\r\n"
# What the upstream does after `[DONE]` instead of ending its body (a server thread sleeps on).
AFTER_DONE = {
    "stall": [(END, 30)],
    "pings": [(chunk(b": ping\n\n"), 0.02)] * 1500,
    "flood": [(chunk(b": " + b"x" * 8000 + b"\n\n") * 10, 0), (END, 30)],
}
# Well under the 30 s read timeout, well over what finishing takes on a slow machine.
PROMPT = 5.0


@pytest.fixture
def scripted(scripted_http) -> Callable[..., tuple[Scripted, UpstreamHTTP]]:
    """The scripted upstream with a 30 s read timeout (see the module docstring)."""
    return functools.partial(scripted_http, read_timeout=30)


def relayed(http: UpstreamHTTP) -> tuple[bytes, float]:
    """One stream relayed as the `openai` backend does, and the seconds it took."""
    start = time.monotonic()
    response = http.request("POST", "/s", data=b"{}", stream=True)
    finish = functools.partial(http.finish, response)
    events = relay(
        "up", http.iter_bytes(response), ModelRewriter("gw"), UpstreamError, finish=finish
    )
    out = b"".join(events)
    response.close()  # as Stream.close, once the gateway has sent the last event
    return out, time.monotonic() - start


@pytest.mark.parametrize("after", sorted(AFTER_DONE))
def test_a_stream_ends_promptly_after_done_and_its_connection_is_dropped(scripted, after):
    server, http = scripted([(ANSWER, 0), *AFTER_DONE[after]], [(ANSWER + END, 0)])
    out, took = relayed(http)
    assert out.endswith(DONE) and b'"model":"gw"' in out
    assert took < PROMPT
    assert relayed(http)[0].endswith(DONE)
    assert server.connections == 2  # the first one was closed, with its body unread


@pytest.mark.parametrize("end", [[(ANSWER + END, 0)], [(ANSWER, 0), (END, 0.05)]])
def test_a_body_that_ends_right_after_done_frees_its_connection(scripted, end):
    server, http = scripted(end, list(end), list(end))
    for _ in range(3):
        out, took = relayed(http)
        assert out.endswith(DONE)
        assert took < PROMPT
    assert server.connections == 1


def test_through_the_gateway_the_response_ends_after_done(scripted, monkeypatch):
    server, _ = scripted([(ANSWER, 0), *AFTER_DONE["stall"]], [(ANSWER + END, 0)])
    backend = {"base_url": f"http://127.0.0.1:{server.port}/v1", "read_timeout": 30}
    client = make_app(monkeypatch, backend=backend).test_client()
    for _ in range(2):
        start = time.monotonic()
        response = client.post("/v1/chat/completions", json=chat_body(stream=True))
        assert sse_payloads(response.get_data())[-1] == "[DONE]"
        assert time.monotonic() - start < PROMPT
    assert server.connections == 2


def test_a_padded_done_ends_the_stream_and_frees_its_connection_too(scripted):
    padded = CHUNKED + chunk(EVENT) + chunk(b"data: [DONE] \t\n\n")
    server, http = scripted([(padded, 0), (END, 0.05)], [(padded + END, 0)])
    for _ in range(2):
        out, took = relayed(http)
        assert out.endswith(DONE) and took < PROMPT
    assert server.connections == 1
