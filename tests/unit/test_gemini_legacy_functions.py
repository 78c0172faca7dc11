"""Gemini backend: requests with the deprecated `functions` get OpenAI's legacy answer shape."""

from __future__ import annotations

import json

import pytest

from app.backends.base import Call
from app.backends.gemini.stream import StreamTranslator
from app.backends.gemini.tools import ThoughtSignatures
from app.routing import Route
from app.tokens import count_functions, count_messages, count_text
from tests.fakes.gemini import candidate, response, sse, usage_metadata
from tests.support.openai_checks import check_chat_completion, check_chat_sse, check_chat_stream
from tests.unit.gemini_helpers import STREAM_URL, URL, chat, gemini_client, sent

HI = [{"role": "user", "content": "Weather in Paris and Oslo?"}]
WEATHER = {
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
# OpenAI accepts a leading digit, Gemini does not: it is declared as `_2fa_check`.
TWO_FA = {"name": "2fa_check", "parameters": {"type": "object", "properties": {}}}
PARIS = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
OSLO = {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


def counted_usage(function: dict, arguments: str) -> dict:
    """The usage the gateway counts for HI with `function` and one call of it (`arguments`)."""
    model = "gemini-2.5-flash"
    prompt = count_messages(HI, model) + count_functions([function], model)
    completion = count_text(function["name"], model) + count_text(arguments, model)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def answer_for(client, upstream, payload, **request):
    upstream.post(URL, json=payload)
    request = {"model": "gpt-4o", "messages": HI, **request}
    answer = chat(client, **request)
    assert answer.status_code == 200, answer.json
    check_chat_completion(answer.json, request)
    return answer.json


def translate(raw: bytes, size: int, **body) -> list[dict]:
    """Chunks for `raw` delivered in reads of `size` bytes."""
    body = {"model": "gpt-4o", "messages": HI, "stream": True, **body}
    call = Call(body, Route("gpt-4o", "gemini", "gemini-2.5-flash"))
    pieces = [raw[i : i + size] for i in range(0, len(raw), size)]
    return list(StreamTranslator(call, ThoughtSignatures(), "gemini").events(pieces))


def test_functions_are_answered_with_one_function_call(client, upstream):
    payload = response([candidate([PARIS, OSLO])], usage_metadata(20, 10))
    body = answer_for(client, upstream, payload, functions=[WEATHER])
    assert body["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "function_call": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            "logprobs": None,
            "finish_reason": "function_call",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}


def test_named_function_call_is_answered_in_the_legacy_shape(client, upstream):
    payload = response([candidate([OSLO])], usage_metadata(20, 10))
    body = answer_for(
        client, upstream, payload, functions=[WEATHER], function_call={"name": "get_weather"}
    )
    assert sent(upstream)["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    choice = body["choices"][0]
    assert choice["finish_reason"] == "function_call"
    assert "tool_calls" not in choice["message"]
    assert json.loads(choice["message"]["function_call"]["arguments"]) == {"city": "Oslo"}


def test_function_call_comes_back_under_the_client_s_name(client, upstream):
    payload = response([candidate([{"functionCall": {"name": "_2fa_check", "args": {}}}])])
    body = answer_for(client, upstream, payload, functions=[TWO_FA])
    assert [d["name"] for d in sent(upstream)["tools"][0]["functionDeclarations"]] == ["_2fa_check"]
    assert body["choices"][0]["message"]["function_call"] == {
        "name": "2fa_check",
        "arguments": "{}",
    }


def test_text_beside_the_call_is_kept_and_a_cut_call_ends_with_length(client, upstream):
    payload = response([candidate([{"text": "Checking."}, PARIS], "MAX_TOKENS")])
    body = answer_for(client, upstream, payload, functions=[WEATHER])
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "Checking."
    assert choice["message"]["function_call"]["name"] == "get_weather"
    assert "tool_calls" not in choice["message"]


def test_text_answer_to_functions_has_no_function_call(client, upstream):
    payload = response([candidate([{"text": "Sunny."}])], usage_metadata(20, 2))
    body = answer_for(client, upstream, payload, functions=[WEATHER])
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Sunny.",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"


def test_counted_usage_bills_the_function_call_the_answer_keeps(client, upstream):
    body = answer_for(client, upstream, response([candidate([PARIS, OSLO])]), functions=[WEATHER])
    assert body["usage"] == counted_usage(WEATHER, '{"city":"Paris"}')


def test_tools_are_still_answered_with_tool_calls(client, upstream):
    tools = [{"type": "function", "function": WEATHER}]
    body = answer_for(client, upstream, response([candidate([PARIS, OSLO])]), tools=tools)
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert len(choice["message"]["tool_calls"]) == 2
    assert "function_call" not in choice["message"]


@pytest.mark.parametrize("size", [1, 7, 100_000])
def test_stream_sends_function_call_deltas(size):
    raw = sse(
        response([candidate([PARIS, OSLO], None)]),
        response([candidate([OSLO], "STOP")], usage_metadata(20, 10)),
    )
    request = {"model": "gpt-4o", "messages": HI, "functions": [WEATHER]}
    chunks = translate(raw, size, **request)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1:] == [
        {"function_call": {"name": "get_weather", "arguments": ""}},
        {"function_call": {"arguments": '{"city":"Paris"}'}},
        {},
    ]
    assembled = check_chat_stream(chunks, request)
    (choice,) = assembled["choices"]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["function_call"] == {
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    assert "tool_calls" not in choice["message"]


def test_stream_through_the_gateway_with_client_names_and_counted_usage(client, upstream):
    raw = sse(
        response([candidate([{"functionCall": {"name": "_2fa_check", "args": {}}}], None)]),
        response([candidate([], "STOP")]),
    )
    upstream.post(STREAM_URL, body=raw, content_type="text/event-stream")
    request = {
        "model": "gpt-4o",
        "messages": HI,
        "functions": [TWO_FA],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    answer = chat(client, **request)
    assert answer.status_code == 200
    data = [b.removeprefix("data: ") for b in answer.get_data(as_text=True).split("\n\n") if b]
    assembled = check_chat_sse(data, request)
    (choice,) = assembled["choices"]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["function_call"] == {"name": "2fa_check", "arguments": "{}"}
    assert assembled["usage"] == counted_usage(TWO_FA, "{}")
