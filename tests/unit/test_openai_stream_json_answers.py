"""A stream request answered with one JSON body instead of events: told apart by any spelling
of its media type or, without one, by its first byte; typed as an event stream, by the end of a
body without events (a scripted upstream on real sockets)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.openai_checks import check_error
from tests.support.openai_upstream import chat_body, make_app, sse_payloads
from tests.support.scripted_upstream import Scripted, chunk

QUOTA = {"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota"}}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "real-model",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
}
EVENTS = b'data: {"model":"real-model","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'


def answer(body: bytes, content_type: str | None, chunked: bool = False) -> bytes:
    """A 200 with `body`, its Content-Type (none when None) and its framing."""
    head = b"HTTP/1.1 200 OK\r\n"
    if content_type is not None:
        head += b"Content-Type: %s\r\n" % content_type.encode()
    if chunked:
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunk(body) + b"0\r\n\r\n"
    return head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.fixture
def stream_answer(monkeypatch) -> Iterator:
    servers: list[Scripted] = []

    def post(*steps: tuple[bytes, float]):
        server = Scripted([list(steps)])
        servers.append(server)
        backend = {"base_url": f"http://127.0.0.1:{server.port}/v1", "read_timeout": 5}
        client = make_app(monkeypatch, backend=backend).test_client()
        return client.post("/v1/chat/completions", json=chat_body(stream=True))

    yield post
    for server in servers:
        server.close()


@pytest.mark.parametrize(
    ("content_type", "chunked"),
    [
        (None, False),
        ("text/plain", False),
        ("text/plain; charset=utf-8", True),
        ("Application/JSON; charset=utf-8", False),
        ("application/problem+json", True),
    ],
)
def test_an_error_body_keeps_the_upstreams_message(stream_answer, content_type, chunked):
    body = b"\n " + json.dumps(QUOTA).encode()
    response = stream_answer((answer(body, content_type, chunked), 0))
    error = check_error(response.get_json(), response.status_code)
    assert error.message == "You exceeded your current quota."
    assert error.code != "upstream_stream_incomplete"
    # OpenAI answers a spent quota with 429, whatever status the upstream wrote it under.
    assert response.status_code == 429 and error.type == "insufficient_quota"


@pytest.mark.parametrize("content_type", [None, "text/plain"])
def test_an_error_body_after_a_byte_order_mark_keeps_the_upstreams_message(
    stream_answer, content_type
):
    body = b"\xef\xbb\xbf" + json.dumps(QUOTA).encode()
    response = stream_answer((answer(body, content_type), 0))
    error = check_error(response.get_json(), response.status_code)
    assert error.message == "You exceeded your current quota."


@pytest.mark.parametrize("content_type", [None, "text/plain", "APPLICATION/JSON"])
def test_a_complete_answer_to_a_stream_request_is_replayed_as_a_stream(stream_answer, content_type):
    response = stream_answer((answer(json.dumps(COMPLETION).encode(), content_type), 0))
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = sse_payloads(response.get_data())
    assert events[-1] == "[DONE]"
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]) == "hi"
    assert {e["model"] for e in events[:-1]} == {"gw"}


@pytest.mark.parametrize("content_type", [None, "text/plain", "Text/Event-Stream"])
def test_events_without_the_event_stream_type_are_still_relayed(stream_answer, content_type):
    body = answer(EVENTS + b"data: [DONE]\n\n", content_type, chunked=True)
    # The first event comes after a pause: the body is waited for, not misread as empty.
    response = stream_answer((body[:-40], 0), (body[-40:], 0.1))
    assert response.status_code == 200
    assert sse_payloads(response.get_data())[-1] == "[DONE]"


def test_an_empty_body_without_a_type_is_a_stream_cut_short(stream_answer):
    response = stream_answer((answer(b"", None), 0))
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "upstream_stream_incomplete"


@pytest.mark.parametrize("chunked", [False, True])
def test_an_error_body_typed_as_an_event_stream_keeps_the_upstreams_message(stream_answer, chunked):
    body = answer(json.dumps(QUOTA, indent=2).encode(), "text/event-stream", chunked)
    # The body arrives in two reads: what came first is kept until the body ends.
    response = stream_answer((body[:-30], 0), (body[-30:], 0.1))
    error = check_error(response.get_json(), response.status_code)
    assert error.message == "You exceeded your current quota."
    assert error.code != "upstream_stream_incomplete"


def test_a_complete_answer_typed_as_an_event_stream_is_replayed(stream_answer):
    response = stream_answer((answer(json.dumps(COMPLETION).encode(), "text/event-stream"), 0))
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = sse_payloads(response.get_data())
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]) == "hi"
    assert events[-1] == "[DONE]"
