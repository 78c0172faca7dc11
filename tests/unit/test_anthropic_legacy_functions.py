"""Anthropic backend: the deprecated `functions` / `function_call` API, as OpenAI answers it."""

from __future__ import annotations

import json

import pytest
import responses

from tests.fakes.anthropic_checks import check_body
from tests.fakes.anthropic_wire import (
    PING,
    block_stop,
    end,
    message,
    partial_json,
    sse,
    start,
    text,
    text_block,
    tool_block,
)
from tests.support import anthropic_requests
from tests.support.anthropic_requests import BASE, user
from tests.support.openai_checks import check_chat_completion, check_chat_sse
from tests.support.provider_e2e import PERSON

# The shared fixture, bound here so that pytest finds it.
config = anthropic_requests.config

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = {"name": "get_weather", "description": "Current weather for a city", "parameters": CITY}
TIME = {"name": "get_time"}
HI = [{"role": "user", "content": "Weather in Paris?"}]
PARIS = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}
NOW = {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}}
USAGE = {"prompt_tokens": 2095, "completion_tokens": 503, "total_tokens": 2598}


def chat_request(**body) -> dict:
    """A chat request with `functions`; a field of `body` set to None is left out."""
    request = {"model": "claude-3-haiku", "messages": HI, "functions": [WEATHER, TIME], **body}
    return {key: value for key, value in request.items() if value is not None}


def exchange(client, reply=None, **body):
    """(request, gateway response, data payloads of a stream, body sent to Anthropic)."""
    request = chat_request(**body)
    stream = {"body": reply, "content_type": "text/event-stream"}
    answer = stream if isinstance(reply, bytes) else {"json": reply or message([part("Hi")])}
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", **answer)
        response = client.post("/v1/chat/completions", json=request)
        data = response.get_data()
        sent = json.loads(mock.calls[0].request.body)
    assert response.status_code == 200, response.get_json()
    assert check_body(sent) is None, check_body(sent)
    events = [e.removeprefix(b"data: ").decode() for e in data.split(b"\n\n") if e]
    return request, response, events, sent


def refused(client, messages: list, param: str, **body) -> str:
    """The gateway's 400 message for `messages`, naming `param`; nothing reaches Anthropic."""
    request = chat_request(messages=messages, **body)
    with responses.RequestsMock():
        response = client.post("/v1/chat/completions", json=request)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    return error["message"]


def called(name: str, arguments: str, content=None) -> dict:
    """An assistant message with a legacy function call."""
    call = {"name": name, "arguments": arguments}
    return {"role": "assistant", "content": content, "function_call": call}


def result(name: str, content: str) -> dict:
    return {"role": "function", "name": name, "content": content}


def part(value: str) -> dict:
    return {"type": "text", "text": value}


def use(index: int, name: str, arguments: dict) -> dict:
    """The tool_use block of the legacy call in the message at `index`."""
    return {"type": "tool_use", "id": f"function_call_{index}", "name": name, "input": arguments}


def answer(index: int, content: str) -> dict:
    """The tool_result block for the legacy call in the message at `index`."""
    return {"type": "tool_result", "tool_use_id": f"function_call_{index}", "content": content}


def turn(role: str, *blocks: dict) -> dict:
    return {"role": role, "content": list(blocks)}


def test_functions_are_sent_as_function_tools_are(client):
    *_, legacy = exchange(client)
    tools = [{"type": "function", "function": function} for function in (WEATHER, TIME)]
    *_, modern = exchange(client, tools=tools, functions=None)
    assert legacy["tools"] == modern["tools"]
    assert legacy["tools"][0]["input_schema"] == WEATHER["parameters"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"type": "auto", "disable_parallel_tool_use": True}),
        ({"function_call": "auto"}, {"type": "auto", "disable_parallel_tool_use": True}),
        ({"function_call": "none"}, {"type": "none"}),
        (
            {"function_call": {"name": "get_time"}},
            {"type": "tool", "name": "get_time", "disable_parallel_tool_use": True},
        ),
    ],
)
def test_function_call_is_sent_as_tool_choice_with_one_call_at_most(client, options, expected):
    *_, sent = exchange(client, **options)
    assert sent["tool_choice"] == expected


def test_legacy_history_becomes_tool_use_and_results(client):
    messages = [
        *HI,
        called("get_weather", '{"city": "Paris"}', "Let me check."),
        result("get_weather", "18°C, sunny"),
        {"role": "assistant", "content": "Sunny. Anything else?"},
        {"role": "user", "content": "The time, and Oslo's weather?"},
        # Two calls in a row merge into one turn; each result finds the call of its name.
        called("get_time", ""),
        called("get_weather", '{"city": "Oslo"}'),
        result("get_weather", "3°C, snow"),
        {"role": "user", "content": "Thanks!"},
        result("get_time", "9am"),
    ]
    *_, sent = exchange(client, messages=messages)
    paris, oslo = {"city": "Paris"}, {"city": "Oslo"}
    assert sent["messages"] == [
        user("Weather in Paris?"),
        turn("assistant", part("Let me check."), use(1, "get_weather", paris)),
        turn("user", answer(1, "18°C, sunny")),
        turn("assistant", part("Sunny. Anything else?")),
        user("The time, and Oslo's weather?"),
        turn("assistant", use(5, "get_time", {}), use(6, "get_weather", oslo)),
        turn("user", answer(6, "3°C, snow"), answer(5, "9am"), part("Thanks!")),
    ]


def test_a_result_answers_the_latest_call_of_its_name_still_waiting(client):
    messages = [
        *HI,
        called("get_weather", '{"city": "Paris"}'),
        called("get_weather", '{"city": "Oslo"}'),
        result("get_weather", "3°C"),
        result("get_weather", "18°C"),
    ]
    *_, sent = exchange(client, messages=messages)
    assert sent["messages"][2] == turn("user", answer(2, "3°C"), answer(1, "18°C"))


@pytest.mark.parametrize(
    "messages",
    [
        [*HI, result("get_weather", "18°C")],
        [*HI, called("get_time", ""), result("get_weather", "18°C")],
        [*HI, called("get_weather", "{}"), *[result("get_weather", "18°C")] * 2],
    ],
    ids=["no call", "another name", "answered twice"],
)
def test_a_function_message_that_answers_no_call_is_400(client, messages):
    index = len(messages) - 1
    assert "function_call" in refused(client, messages, f"messages[{index}]")


def test_legacy_call_arguments_are_parsed_as_tool_call_arguments(client):
    messages = [*HI, called("get_weather", "{not json"), result("get_weather", "x")]
    refused(client, messages, "messages[1].function_call.arguments")


def test_functions_beside_tools_and_legacy_history_beside_tools_are_still_refused(client):
    tools = [{"type": "function", "function": TIME}]
    refused(client, HI, "functions", tools=tools)
    messages = [*HI, called("get_time", ""), result("get_time", "9am")]
    refused(client, messages, "messages[1].function_call", tools=tools, functions=None)
    refused(client, messages[:1] + messages[2:], "messages[1].role", tools=tools, functions=None)


def test_answer_s_first_tool_use_is_its_function_call(client):
    reply = message([part("Checking."), PARIS, NOW], "tool_use")
    request, response, _, _ = exchange(client, reply)
    body = response.get_json()
    check_chat_completion(body, request)
    assert body["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking.",
                "refusal": None,
                "function_call": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            "logprobs": None,
            "finish_reason": "function_call",
        }
    ]
    assert body["usage"] == USAGE


def test_a_call_alone_has_null_content_and_a_text_answer_no_call(client):
    request, response, _, _ = exchange(client, message([NOW], "tool_use"))
    check_chat_completion(response.get_json(), request)
    (choice,) = response.get_json()["choices"]
    assert choice["message"]["content"] is None
    assert choice["message"]["function_call"] == {"name": "get_time", "arguments": "{}"}
    request, response, _, _ = exchange(client, message([part("Sunny.")]))
    (choice,) = response.get_json()["choices"]
    assert choice["message"] == {"role": "assistant", "content": "Sunny.", "refusal": None}
    assert choice["finish_reason"] == "stop"


def test_stream_sends_one_function_call_in_deltas(client):
    options = {"stream": True, "stream_options": {"include_usage": True}}
    raw = sse(
        start(472),
        text_block(0),
        text(0, "Okay, let's check"),
        block_stop(0),
        tool_block(1, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather"),
        partial_json(1, ""),
        partial_json(1, '{"city":'),
        PING,
        partial_json(1, ' "Paris"}'),
        block_stop(1),
        tool_block(2, "toolu_02", "get_time"),
        block_stop(2),
        *end("tool_use", 89),
    )
    request, _, events, _ = exchange(client, raw, **options)
    assembled = check_chat_sse(events, request)
    deltas = [json.loads(e)["choices"][0]["delta"] for e in events[:-2]]
    assert deltas == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "Okay, let's check"},
        {"function_call": {"name": "get_weather", "arguments": ""}},
        {"function_call": {"arguments": '{"city":'}},
        {"function_call": {"arguments": ' "Paris"}'}},
        {},
    ]
    (choice,) = assembled["choices"]
    assert choice["finish_reason"] == "function_call"
    assert "tool_calls" not in choice["message"]
    usage = {"prompt_tokens": 472, "completion_tokens": 89, "total_tokens": 561}
    assert assembled["usage"] == usage


def test_a_streamed_call_without_input_has_empty_object_arguments(client):
    raw = sse(start(), tool_block(0, "toolu_1", "get_time"), block_stop(0), *end("tool_use"))
    request, _, events, _ = exchange(client, raw, stream=True)
    (choice,) = check_chat_sse(events, request)["choices"]
    assert choice["message"]["function_call"] == {"name": "get_time", "arguments": "{}"}
    assert choice["finish_reason"] == "function_call"


def test_a_gateway_stop_after_a_streamed_call_ends_with_function_call(client):
    call = [tool_block(0, "toolu_1", "get_weather"), partial_json(0, '{"city": "Paris"}')]
    said = [text_block(1), text(1, "Done.\nMore"), block_stop(1)]
    raw = sse(start(), *call, block_stop(0), *said, *end("end_turn"))
    request, _, events, _ = exchange(client, raw, stream=True, stop="\n")
    (choice,) = check_chat_sse(events, request)["choices"]
    assert choice["message"]["content"] == "Done."
    assert choice["finish_reason"] == "function_call"


def test_json_schema_answer_still_works_beside_functions(client):
    person = {"name": "Ada", "age": 36}
    call = {"type": "tool_use", "id": "toolu_9", "name": "person", "input": person}
    reply = message([call], "tool_use")
    request, response, _, sent = exchange(client, reply, response_format=PERSON)
    assert [tool["name"] for tool in sent["tools"]] == ["get_weather", "get_time", "person"]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    check_chat_completion(response.get_json(), request)
    (choice,) = response.get_json()["choices"]
    assert "function_call" not in choice["message"]
    assert json.loads(choice["message"]["content"]) == person
    assert choice["finish_reason"] == "stop"
