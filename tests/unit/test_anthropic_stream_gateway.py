"""Anthropic backend: streams through the gateway: SSE out, errors as events, upstream closed."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from app import create_app
from tests.fakes.anthropic_wire import OVERLOADED, PING, TEXT_EVENTS, gateway_models, sse, text
from tests.support.openai_checks import check_chat_sse, check_error_sse

BASE = "https://api.anthropic.test"


@pytest.fixture
def config(config, monkeypatch):
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-unit-key")
    return {**config, "MODELS": gateway_models(BASE, "TEST_ANTHROPIC_KEY")}


def post_stream(client, raw: bytes, **body):
    """Stream a chat request through the gateway: (request, response, data payloads, sent)."""
    request = {
        "model": "claude-3-haiku",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        **body,
    }
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", body=raw, content_type="text/event-stream")
        response = client.post("/v1/chat/completions", json=request)
        data = response.get_data()
        sent = json.loads(mock.calls[0].request.body)
    events = [e.removeprefix(b"data: ").decode() for e in data.split(b"\n\n") if e]
    return request, response, events, sent


def test_stream_through_the_gateway(client):
    body = {"stream_options": {"include_usage": True}}
    request, response, events, sent = post_stream(client, sse(*TEXT_EVENTS), **body)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert sent["stream"] is True
    assembled = check_chat_sse(events, request)
    assert assembled["choices"][0]["message"]["content"] == "Héllo wörld 👋 — ok"
    assert assembled["usage"]["completion_tokens"] == 15


def test_error_event_mid_stream_becomes_an_error_event(client):
    _, response, events, _ = post_stream(client, sse(*TEXT_EVENTS[:4], OVERLOADED))
    assert response.status_code == 200
    error = check_error_sse(events)
    assert (error.type, error.message) == ("server_error", "Overloaded")


def test_cut_stream_ends_with_an_error_event(client):
    _, _, events, _ = post_stream(client, sse(*TEXT_EVENTS[:5]))
    assert "before the answer was complete" in check_error_sse(events).message


def test_error_before_any_chunk_is_a_json_error(client):
    _, response, _, _ = post_stream(client, sse(OVERLOADED))
    assert response.status_code == 503
    assert response.get_json()["error"]["message"] == "Overloaded"


def test_closing_the_stream_closes_the_upstream_response(app):
    from app import gateway
    from app.backends import Call

    with app.app_context(), responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{BASE}/v1/messages",
            body=sse(*TEXT_EVENTS),
            content_type="text/event-stream",
        )
        body = {
            "model": "claude-3-haiku",
            "messages": [{"role": "user", "content": "Hi"}],
            "stream": True,
        }
        stream = gateway.backends()["claude"].chat(
            Call(body, gateway.models().resolve("claude-3-haiku"))
        )
        upstream = stream.close.__self__
        assert next(iter(stream.events))["choices"][0]["delta"]["role"] == "assistant"
        assert not upstream.raw.closed
        stream.close()
        assert upstream.raw.closed


def test_a_key_echoed_in_an_error_event_is_scrubbed(client):
    echoed = {
        "type": "error",
        "error": {"type": "sk-ant-unit-key", "message": "bad sk-ant-unit-key"},
    }
    _, _, events, _ = post_stream(client, sse(*TEXT_EVENTS[:4], echoed))
    assert "sk-ant-unit-key" not in "".join(events)
    assert check_error_sse(events).message == "bad ***"


def test_an_upstream_that_only_pings_is_a_504(config):
    models = gateway_models(BASE, "TEST_ANTHROPIC_KEY", total_timeout=0)
    client = create_app({**config, "MODELS": models}).test_client()
    _, response, _, _ = post_stream(client, sse(PING, PING, PING))
    # Nothing went to the client yet: the request fails as a whole, as OpenAI's own would.
    assert response.status_code == 504
    assert response.get_json()["error"] == {
        "message": "Upstream `claude` did not send the first event of its stream in time.",
        "type": "timeout",
        "param": None,
        "code": "upstream_timeout",
    }


def _retry_client(config, **route):
    """A client whose `claude-3-haiku` route has the given `retries` / `fallbacks`."""
    models = gateway_models(BASE, "TEST_ANTHROPIC_KEY")
    models["models"][0].update(route)
    settings = {**config, "MODELS": models, "RETRY_BACKOFF_BASE": 0.0, "RETRY_BACKOFF_MAX": 0.0}
    return create_app(settings).test_client()


def _stream_attempts(client, *attempts: bytes):
    """Stream through the gateway with one upstream answer per attempt: (response, events, sent)."""
    request = {
        "model": "claude-3-haiku",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }
    with responses.RequestsMock() as mock:
        for raw in attempts:
            mock.add(
                responses.POST, f"{BASE}/v1/messages", body=raw, content_type="text/event-stream"
            )
        response = client.post("/v1/chat/completions", json=request)
        data = response.get_data()
        sent = [json.loads(call.request.body) for call in mock.calls]
    events = [e.removeprefix(b"data: ").decode() for e in data.split(b"\n\n") if e]
    return request, response, events, sent


# Anthropic's overloaded_error after message_start and pings, before any content.
OVERLOADED_AFTER_START = sse(TEXT_EVENTS[0], PING, OVERLOADED)


def test_an_error_after_message_start_is_retried(config):
    client = _retry_client(config, retries=1)
    request, response, events, sent = _stream_attempts(
        client, OVERLOADED_AFTER_START, sse(*TEXT_EVENTS)
    )
    assert len(sent) == 2
    assert response.status_code == 200
    assembled = check_chat_sse(events, request)
    assert assembled["choices"][0]["message"]["content"] == "Héllo wörld 👋 — ok"
    # One role chunk, from the attempt that answered.
    assert sum('"role":"assistant"' in event for event in events) == 1


def test_an_error_after_message_start_goes_to_the_fallback(config):
    client = _retry_client(config, retries=0, fallbacks=["claude-3-opus"])
    request, response, events, sent = _stream_attempts(
        client, OVERLOADED_AFTER_START, sse(*TEXT_EVENTS)
    )
    assert [body["model"] for body in sent] == ["claude-3-haiku-20240307", "claude-3-opus-20240229"]
    assert response.status_code == 200
    check_chat_sse(events, request)


def test_an_error_after_message_start_without_retries_is_a_json_error(config):
    client = _retry_client(config, retries=0)
    _, response, _, sent = _stream_attempts(client, OVERLOADED_AFTER_START)
    assert len(sent) == 1
    assert response.status_code == 503
    assert response.get_json()["error"]["message"] == "Overloaded"


def test_a_whitespace_stop_ends_the_stream_and_closes_the_upstream(client, monkeypatch):
    closed = []
    original = requests.Response.close

    def close(self):
        closed.append(self.url)
        original(self)

    monkeypatch.setattr(requests.Response, "close", close)
    events = [*TEXT_EVENTS[:3], text(0, "Two\nlines"), text(0, " and more"), *TEXT_EVENTS[5:]]
    body = {"stop": "\n", "stream_options": {"include_usage": True}}
    request, response, sse_events, sent = post_stream(client, sse(*events), **body)
    assert "stop_sequences" not in sent
    assembled = check_chat_sse(sse_events, request)
    assert assembled["choices"][0]["message"]["content"] == "Two"
    assert assembled["choices"][0]["finish_reason"] == "stop"
    assert assembled["usage"]["prompt_tokens"] == 25
    assert sse_events[-1] == "[DONE]"
    assert closed and set(closed) == {f"{BASE}/v1/messages"}
