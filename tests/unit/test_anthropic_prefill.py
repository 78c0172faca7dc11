"""Anthropic backend: a conversation ending with the assistant, for models that refuse a prefill
(Claude 4.6 and later answer 400): sent again with a user turn after it, and remembered."""

from __future__ import annotations

import json

import pytest
import responses

from app.backends.anthropic.prefill import CONTINUE
from tests.fakes.anthropic_wire import error_body, message
from tests.support import anthropic_requests
from tests.support.anthropic_requests import BASE
from tests.support.openai_checks import check_error

config = anthropic_requests.config

URL = f"{BASE}/v1/messages"
REFUSAL = (
    "This model does not support assistant message prefill. "
    "The conversation must end with a user message."
)
ENDS_WITH_ASSISTANT = [
    {"role": "user", "content": "Summarise our talk."},
    {"role": "assistant", "content": "We spoke about foxes."},
]
ANSWER = message([{"type": "text", "text": "Foxes, mostly."}])


def refusal(text: str = REFUSAL) -> dict:
    """A 400 as Anthropic answers it."""
    return {"status": 400, "json": error_body("invalid_request_error", text)}


def chat(client, messages=None, **extra):
    body = {"model": "claude-3-haiku", "messages": messages or ENDS_WITH_ASSISTANT, **extra}
    return client.post("/v1/chat/completions", json=body)


def last_turns(call) -> list[dict]:
    return json.loads(call.request.body)["messages"][-2:]


@pytest.mark.parametrize(
    "text", [REFUSAL, "Prefilling assistant messages is not supported for this model."]
)
def test_a_refused_prefill_is_sent_again_with_a_user_turn_and_remembered(client, text):
    with responses.RequestsMock() as mock:
        mock.post(URL, **refusal(text))
        mock.post(URL, json=ANSWER)
        mock.post(URL, json=ANSWER)
        first = chat(client)
        second = chat(client)
        calls = list(mock.calls)
    assert first.status_code == 200 and second.status_code == 200
    assert first.get_json()["choices"][0]["message"]["content"] == "Foxes, mostly."
    refused, again, later = calls
    assert last_turns(refused)[-1]["role"] == "assistant"
    expected = [
        {"role": "assistant", "content": [{"type": "text", "text": "We spoke about foxes."}]},
        {"role": "user", "content": [{"type": "text", "text": CONTINUE}]},
    ]
    assert last_turns(again) == expected
    # The model is known to refuse now: the next conversation goes right away with the turn.
    assert last_turns(later) == expected


def test_a_stream_is_sent_again_too(client):
    events = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1",'
        b'"type":"message","role":"assistant","model":"claude-3-haiku-20240307","content":[],'
        b'"stop_reason":null,"usage":{"input_tokens":5,"output_tokens":0}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Foxes."}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        b'"usage":{"output_tokens":2}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    with responses.RequestsMock() as mock:
        mock.post(URL, **refusal())
        mock.post(URL, body=events, content_type="text/event-stream")
        response = chat(client, stream=True)
        assert response.status_code == 200
        assert "Foxes." in response.get_data(as_text=True)
        assert last_turns(mock.calls[1])[-1]["content"][0]["text"] == CONTINUE


def test_other_bad_requests_are_not_sent_again(client):
    with responses.RequestsMock() as mock:
        mock.post(URL, **refusal("max_tokens: must be at most 8192"))
        response = chat(client)
        assert len(mock.calls) == 1
    assert check_error(response.get_json(), 400).message == "max_tokens: must be at most 8192"


def test_a_conversation_ending_with_the_user_is_never_sent_again(client):
    messages = [{"role": "user", "content": "Hi"}]
    with responses.RequestsMock() as mock:
        mock.post(URL, **refusal())
        response = chat(client, messages)
        assert response.status_code == 400 and len(mock.calls) == 1


def test_the_turn_added_for_a_refusing_model_is_not_refused_again(client):
    with responses.RequestsMock() as mock:
        mock.post(URL, **refusal())
        mock.post(URL, **refusal())
        response = chat(client)
        assert len(mock.calls) == 2
    # Refused once more even with the user turn: that answer is the client's, and no third try.
    assert check_error(response.get_json(), 400).message == REFUSAL


def test_the_second_send_gets_what_is_left_of_the_total_timeout(app, client, monkeypatch):
    http = app.extensions["gateway.backends"].instances["claude"].http
    totals = []
    send = http.request

    def spy(*args, **kwargs):
        totals.append(kwargs.get("total"))
        return send(*args, **kwargs)

    monkeypatch.setattr(http, "request", spy)
    with responses.RequestsMock() as mock:
        mock.post(URL, **refusal())
        mock.post(URL, json=ANSWER)
        assert chat(client).status_code == 200
    first, second = totals
    assert first is None and 0 < second <= http.total_timeout
