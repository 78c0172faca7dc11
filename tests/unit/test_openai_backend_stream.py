"""The `openai` backend streaming through the gateway: relay, usage, errors and disconnects."""

from __future__ import annotations

import json

import pytest

from app.backends.sse import SSEDecoder
from tests.support.openai_checks import check_chat_sse, check_error
from tests.support.openai_upstream import (
    CHAT_URL,
    UPSTREAM,
    chat_body,
    chunk,
    make_app,
    split_every,
    sse_body,
    sse_payloads,
    stream_chunks,
    trickle,
)

TEXTS = ("Héllo", " wörld ", "😀", " ✓")


@pytest.fixture
def app(monkeypatch):
    return make_app(monkeypatch)


@pytest.fixture
def client(app):
    return app.test_client()


def stream_request(client, **extra):
    return client.post("/v1/chat/completions", json=chat_body(stream=True, **extra))


def expected_body(events, model="gw"):
    return sse_body([{**event, "model": model} for event in events])


# -- through the gateway --------------------------------------------------------------------


def test_stream_through_the_gateway(client, upstream):
    upstream.post(CHAT_URL, body=sse_body(stream_chunks(*TEXTS)), content_type="text/event-stream")
    response = stream_request(client)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["x-gateway-backend"] == "up/real-model"
    assert upstream.calls[0].request.headers["Accept-Encoding"] == "identity"
    assert json.loads(upstream.calls[0].request.body)["stream"] is True
    events = [e for e in response.get_data(as_text=True).split("\n\n") if e]
    assembled = check_chat_sse([e.removeprefix("data: ") for e in events])
    assert assembled["choices"][0]["message"]["content"] == "".join(TEXTS)


def test_trickled_upstream_bytes_give_whole_events(client, upstream):
    body = sse_body(stream_chunks(*TEXTS))
    upstream.post(CHAT_URL, body=trickle(split_every(body, 3)), content_type="text/event-stream")
    response = stream_request(client)
    assert sse_payloads(response.get_data()) == sse_payloads(expected_body(stream_chunks(*TEXTS)))


def test_unknown_chunk_fields_pass_through(client, upstream):
    events = [chunk({"content": "x", "reasoning": "r"}, provider="p", x_meta={"a": 1})]
    upstream.post(CHAT_URL, body=sse_body(events), content_type="text/event-stream")
    payloads = sse_payloads(stream_request(client).get_data())
    assert payloads == [{**events[0], "model": "gw"}, "[DONE]"]


def test_usage_is_computed_when_asked_for_and_the_upstream_sends_none(client, upstream):
    upstream.post(
        CHAT_URL,
        body=sse_body(stream_chunks("one two", " three")),
        content_type="text/event-stream",
    )
    response = stream_request(client, stream_options={"include_usage": True})
    payloads = sse_payloads(response.get_data())
    assert payloads[-1] == "[DONE]"
    last = payloads[-2]
    assert last["choices"] == [] and last["id"] == "chatcmpl-up1" and last["model"] == "gw"
    assert last["created"] == 1700000000 and last["object"] == "chat.completion.chunk"
    usage = last["usage"]
    assert usage["prompt_tokens"] > 3 and usage["completion_tokens"] >= 3
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_upstream_usage_is_relayed_and_not_computed_again(client, upstream):
    usage = {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}
    events = [*stream_chunks("a"), {**chunk({}), "choices": [], "usage": usage}]
    upstream.post(CHAT_URL, body=sse_body(events), content_type="text/event-stream")
    payloads = sse_payloads(
        stream_request(client, stream_options={"include_usage": True}).get_data()
    )
    assert [p for p in payloads if isinstance(p, dict) and p.get("usage")] == [
        {**events[-1], "model": "gw"}
    ]


def test_no_usage_chunk_unless_asked(client, upstream):
    upstream.post(CHAT_URL, body=sse_body(stream_chunks("a")), content_type="text/event-stream")
    payloads = sse_payloads(stream_request(client).get_data())
    assert not any("usage" in p for p in payloads if isinstance(p, dict))


def multi_line(data: str, eol: str = "\n") -> bytes:
    """One SSE event whose data is sent as one `data:` line per line of `data`."""
    return "".join(f"data: {line}{eol}" for line in data.split("\n")).encode() + eol.encode()


def decoded(body: bytes) -> list[str]:
    """The event data a spec-following SSE client reads from `body`."""
    decoder = SSEDecoder()
    return [event.data for event in [*decoder.feed(body), *decoder.flush()]]


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_multi_line_data_events_reach_the_client_whole(client, upstream, eol):
    events = stream_chunks("one", " two")
    body = b"".join(
        [
            multi_line(json.dumps(events[0], indent=1), eol),
            # An empty first line, then the object.
            multi_line("\n" + json.dumps(events[1]), eol),
            multi_line(json.dumps(events[2], indent=2) + "\n", eol),
            sse_body(events[3:], eol=eol),
        ]
    )
    upstream.post(CHAT_URL, body=body, content_type="text/event-stream")
    relayed = stream_request(client, stream_options={"include_usage": True}).get_data()
    assert all(line.startswith(b"data: ") for line in relayed.split(b"\n") if line)
    data = decoded(relayed)
    assert data[-1] == "[DONE]"
    assert [json.loads(d) for d in data[:4]] == [{**e, "model": "gw"} for e in events]
    assert json.loads(data[4])["usage"]["completion_tokens"] >= 2


@pytest.mark.parametrize("value", ["null", "false", '""', "{}", "[]", "0", " null "])
def test_a_chunk_whose_first_key_is_an_empty_error_is_relayed(client, upstream, value):
    # The non-stream path reads an answer the same way: a falsy `error` is no error.
    events = stream_chunks("a")
    texts = ['{"error":' + value + "," + json.dumps(e, separators=(",", ":"))[1:] for e in events]
    upstream.post(CHAT_URL, body=sse_body(texts), content_type="text/event-stream")
    response = stream_request(client)
    assert response.status_code == 200
    payloads = sse_payloads(response.get_data())
    assert payloads == [{"error": json.loads(value), **e, "model": "gw"} for e in events] + [
        "[DONE]"
    ]


@pytest.mark.parametrize("error", ['"overloaded"', '{"message":"overloaded"}', "1", "true"])
def test_a_set_error_as_first_key_is_still_an_error(client, upstream, error):
    event = '{"error":' + error + ',"id":"x","choices":[]}'
    upstream.post(CHAT_URL, body=sse_body([event]), content_type="text/event-stream")
    response = stream_request(client)
    assert response.status_code == 502
    check_error(response.get_json(), 502)


# -- failures -------------------------------------------------------------------------------


def error_of(payloads):
    assert isinstance(payloads[-1], dict) and "error" in payloads[-1], payloads
    assert "[DONE]" not in payloads
    check_error(payloads[-1])
    return payloads[-1]["error"]


def test_a_stream_cut_midway_ends_with_an_error_event(client, upstream):
    body = sse_body(stream_chunks("a", "b"), done=False) + b'data: {"choices":[{"de'
    upstream.post(CHAT_URL, body=body, content_type="text/event-stream")
    payloads = sse_payloads(stream_request(client).get_data())
    assert [p["choices"][0]["delta"] for p in payloads[:-1]][1:3] == [
        {"content": "a"},
        {"content": "b"},
    ]
    assert error_of(payloads)["code"] == "upstream_stream_incomplete"


@pytest.mark.parametrize(
    ("failure", "code", "message"),
    [
        (lambda: ConnectionResetError("reset"), "upstream_disconnected", "closed the connection"),
        (lambda: TimeoutError("timed out"), "upstream_timeout", "stopped sending data"),
    ],
)
def test_a_read_failure_midway_ends_with_an_error_event(client, upstream, failure, code, message):
    body = sse_body(stream_chunks("a"), done=False)
    upstream.post(
        CHAT_URL, body=trickle(split_every(body, 40), failure), content_type="text/event-stream"
    )
    payloads = sse_payloads(stream_request(client).get_data())
    error = error_of(payloads)
    assert error["code"] == code and message in error["message"]
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"


def test_an_upstream_error_event_midway_becomes_the_last_event(client, upstream):
    error = {
        "error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}
    }
    upstream.post(
        CHAT_URL,
        body=sse_body([*stream_chunks("a")[:2], error], done=False),
        content_type="text/event-stream",
    )
    payloads = sse_payloads(stream_request(client).get_data())
    assert len(payloads) == 3
    assert error_of(payloads)["message"] == "overloaded"


def test_an_error_event_before_any_chunk_is_a_plain_error_response(client, upstream):
    error = {
        "error": {
            "message": "context too long",
            "type": "invalid_request_error",
            "param": "messages",
            "code": None,
        }
    }
    upstream.post(CHAT_URL, body=sse_body([error], done=False), content_type="text/event-stream")
    response = stream_request(client)
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "messages"


def test_upstream_4xx_to_a_stream_request_is_a_json_error(client, upstream):
    error = {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "n", "code": None}
    }
    upstream.post(CHAT_URL, json=error, status=400)
    response = stream_request(client)
    assert response.status_code == 400
    assert response.get_json() == error


# -- disconnects ----------------------------------------------------------------------------


def test_a_client_disconnect_closes_the_upstream_response(client, upstream):
    body = trickle([sse_body([chunk({"content": str(i)})], done=False) for i in range(50)])
    upstream.post(CHAT_URL, body=body, content_type="text/event-stream")
    response = client.post("/v1/chat/completions", json=chat_body(stream=True), buffered=False)
    first = next(iter(response.response))
    assert b'"content":"0"' in first
    assert not body.closed
    response.close()  # what the WSGI server does when the client goes away
    assert body.closed


def test_what_follows_done_is_drained_only_up_to_a_limit(client, upstream):
    padding = [b": padding " + b"x" * 10_000 + b"\n\n" for _ in range(20)]
    body = trickle([sse_body(stream_chunks("a")), *padding])
    upstream.post(UPSTREAM + "/chat/completions", body=body, content_type="text/event-stream")
    assert sse_payloads(stream_request(client).get_data())[-1] == "[DONE]"
    assert body.closed
    assert 10 < len(body.raw.pieces) < 20  # some read (drained), the rest left unread
