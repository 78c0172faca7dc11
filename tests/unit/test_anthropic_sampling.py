"""Anthropic backend: temperature vs top_p; whitespace stop sequences applied by the gateway."""

from __future__ import annotations

import json

import pytest
import responses

from app.backends.anthropic.stops import StopScanner, cut_message, split_stops
from tests.fakes import anthropic_wire as wire
from tests.fakes.anthropic_wire import gateway_models
from tests.support.openai_checks import check_chat_completion

BASE = "https://api.anthropic.test"
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def config(config, monkeypatch):
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-unit-key")
    return {**config, "MODELS": gateway_models(BASE, "TEST_ANTHROPIC_KEY")}


def exchange(client, reply: dict | None = None, **body) -> tuple[int, dict, dict | None]:
    """(status, the gateway's JSON answer, the body sent upstream or None)."""
    request = {"model": "claude-3-haiku", "messages": HI, **body}
    reply = reply or wire.message([{"type": "text", "text": "ok"}])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", json=reply)
        response = client.post("/v1/chat/completions", json=request)
        sent = json.loads(mock.calls[0].request.body) if mock.calls else None
    answer = response.get_json()
    if response.status_code == 200:
        check_chat_completion(answer, request)
    return response.status_code, answer, sent


def test_temperature_wins_over_top_p(client):
    _, _, sent = exchange(client, temperature=0.7, top_p=0.9)
    assert sent["temperature"] == 0.7
    assert "top_p" not in sent


def test_top_p_alone_is_sent(client):
    _, _, sent = exchange(client, top_p=0.9)
    assert sent["top_p"] == 0.9
    assert "temperature" not in sent


def test_a_bad_top_p_is_refused_even_with_temperature(client):
    status, answer, sent = exchange(client, temperature=0.7, top_p=3)
    assert status == 400
    assert answer["error"]["param"] == "top_p"
    assert sent is None


@pytest.mark.parametrize(
    ("stop", "upstream"),
    [
        (["\n", "\n\n", " ", "END"], ["END"]),
        ("\n", None),
        (["\t", "\r\n"], None),
        ([" END ", "x"], [" END ", "x"]),
    ],
)
def test_whitespace_stop_sequences_are_not_sent(client, stop, upstream):
    _, _, sent = exchange(client, stop=stop)
    assert sent.get("stop_sequences") == upstream


def test_split_stops_keeps_the_whitespace_only_ones_local():
    assert split_stops({"stop": ["\n", "", "END", " \t"]}) == (["END"], ["\n", " \t"])
    assert split_stops({"stop": "END"}) == (["END"], [])
    assert split_stops({}) == ([], [])


def test_the_answer_is_cut_at_the_earliest_whitespace_stop(client):
    reply = wire.message(
        [{"type": "text", "text": "First line"}, {"type": "text", "text": " here\n\nSecond"}],
        "max_tokens",
    )
    _, answer, _ = exchange(client, reply, stop=["\n\n", " "])
    choice = answer["choices"][0]
    assert choice["message"]["content"] == "First"
    assert choice["finish_reason"] == "stop"
    _, answer, _ = exchange(client, reply, stop=["\n\n", "END"])
    assert answer["choices"][0]["message"]["content"] == "First line here"


def test_without_a_match_the_answer_is_unchanged(client):
    reply = wire.message([{"type": "text", "text": "one line"}], "max_tokens")
    _, answer, _ = exchange(client, reply, stop="\n")
    choice = answer["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("one line", "length")


def test_tool_calls_are_not_scanned_but_end_at_a_match_before_them(client):
    call = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"text": "a\nb"}}
    tools = [{"type": "function", "function": {"name": "f"}}]
    # The arguments hold "\n" but stay whole.
    reply = wire.message([{"type": "text", "text": "Calling"}, call], "tool_use")
    _, answer, _ = exchange(client, reply, stop="\n", tools=tools)
    choice = answer["choices"][0]
    assert choice["message"]["content"] == "Calling"
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {
        "text": "a\nb"
    }
    assert choice["finish_reason"] == "tool_calls"
    # A match before the call ends the answer there: the call was never reached.
    reply = wire.message([{"type": "text", "text": "Calling\nnow"}, call], "tool_use")
    _, answer, _ = exchange(client, reply, stop="\n", tools=tools)
    choice = answer["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Calling", "refusal": None}
    assert choice["finish_reason"] == "stop"


def test_a_tool_call_between_texts_breaks_a_match():
    call = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
    message = wire.message([{"type": "text", "text": "a\n"}, call, {"type": "text", "text": "\nb"}])
    assert cut_message(message, ["\n\n"]) is message
    cut = cut_message(message, ["\n"])
    assert cut["content"] == [{"type": "text", "text": "a"}]
    assert (cut["stop_reason"], cut["stop_sequence"]) == ("stop_sequence", "\n")


def test_a_stop_after_a_tool_call_keeps_the_call_and_finishes_with_tool_calls(client):
    call = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"q": 1}}
    tools = [{"type": "function", "function": {"name": "f"}}]
    reply = wire.message([call, {"type": "text", "text": "Done\nmore"}], "tool_use")
    _, answer, _ = exchange(client, reply, stop="\n", tools=tools)
    choice = answer["choices"][0]
    assert choice["message"]["content"] == "Done"
    assert choice["message"]["tool_calls"][0]["id"] == "toolu_1"
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {"q": 1}
    # The client still has to run the call it was given.
    assert choice["finish_reason"] == "tool_calls"
    cut = cut_message(reply, ["\n"])
    assert cut["content"] == [call, {"type": "text", "text": "Done"}]
    assert (cut["stop_reason"], cut["stop_sequence"]) == ("tool_use", "\n")


def test_the_scanner_holds_back_only_a_possible_start():
    scanner = StopScanner(["\n\n", " \n"])
    assert scanner.feed("Hello\n") == "Hello"
    assert scanner.feed("x ") == "\nx"
    assert scanner.feed("y") == " y"
    assert scanner.flush() == ""
    assert scanner.feed("end \n\nmore") == "end"
    assert scanner.matched == " \n"
    assert scanner.feed("later") == ""


def test_the_scanner_without_stops_passes_everything():
    scanner = StopScanner([])
    assert scanner.feed("a\n") == "a\n"
    assert scanner.matched is None
