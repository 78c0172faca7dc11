"""The mock backend through the gateway: text, limits, seeds, tools, JSON output and streams."""

from __future__ import annotations

import json
import math
from typing import Annotated

import httpx
import jsonschema
import openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field

from app import create_app
from app.backends.base import Call
from app.backends.mock import MockBackend
from app.backends.mock import stream as mock_stream
from app.routing import Route
from tests.support.body_checks import check_chat_completion, check_error
from tests.support.stream_checks import check_chat_sse


class Location(BaseModel):
    city: str
    country: str | None = None


class GetWeather(BaseModel):
    """Get the weather forecast."""

    location: Location
    days: Annotated[int, Field(ge=1, le=14)]
    unit: Annotated[str, Field(json_schema_extra={"enum": ["celsius", "fahrenheit"]})] = "celsius"


class Joke(BaseModel):
    setup: str
    punchline: str
    rating: int | None = None


def _tool(model: type[BaseModel]) -> dict:
    return {
        "type": "function",
        "function": {
            "name": model.__name__,
            "description": model.__doc__ or "",
            "parameters": model.model_json_schema(),
        },
    }


WEATHER = _tool(GetWeather)
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string"}},
            "required": ["zone"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
ASK = "What's the weather in 'Paris', 'France' for 3 days in fahrenheit?"


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def chat(client, **body) -> dict:
    body.setdefault("model", "mock")
    body.pop("stream_options", None)  # only allowed with `stream`
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    check_chat_completion(answer, body)
    return answer


def stream(client, **body) -> tuple[list[dict], dict]:
    """The chunks of a streamed answer, and the chat.completion they add up to."""
    body.setdefault("model", "mock")
    response = client.post("/v1/chat/completions", json={**body, "stream": True})
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    events = [
        block.removeprefix("data: ")
        for block in response.get_data(as_text=True).split("\n\n")
        if block.strip()
    ]
    assembled = check_chat_sse(events, {**body, "stream": True})
    return [json.loads(event) for event in events[:-1]], assembled


def messages_of(answer: dict) -> list[dict]:
    return [choice["message"] for choice in answer["choices"]]


# --- text ---------------------------------------------------------------------------------


def test_text_answer_echoes_the_last_user_message(client):
    answer = chat(client, messages=[{"role": "system", "content": "be brief"}, *user("Hi there")])
    message = answer["choices"][0]["message"]
    assert message["content"].startswith('This is a mock reply to "Hi there": ')
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["completion_tokens"] > 0


def test_content_parts_are_read(client):
    parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": "world"}]
    answer = chat(client, messages=[{"role": "user", "content": parts}])
    assert '"Helloworld"' in answer["choices"][0]["message"]["content"]


def test_same_seed_same_bytes_other_seed_other_text(client):
    body = {"messages": user("tell me something"), "seed": 42, "n": 3}
    first, again = chat(client, **body), chat(client, **body)
    assert messages_of(first) == messages_of(again)
    contents = [m["content"] for m in messages_of(first)]
    assert len(set(contents)) == 3, "choices of one request must differ"
    other = chat(client, **{**body, "seed": 43})
    assert messages_of(other)[0]["content"] != contents[0]


def test_stop_cuts_before_the_first_stop_sequence(client):
    text = "alpha beta STOP gamma END delta"
    answer = chat(client, messages=user(text), stop=["END", "STOP"])
    assert answer["choices"][0]["message"]["content"] == 'This is a mock reply to "alpha beta '
    assert answer["choices"][0]["finish_reason"] == "stop"
    single = chat(client, messages=user(text), stop="gamma")
    assert single["choices"][0]["message"]["content"].endswith("STOP ")


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_token_limit_truncates_with_finish_reason_length(client, field):
    full = chat(client, messages=user("count to ten please"), seed=1)
    cut = chat(client, messages=user("count to ten please"), seed=1, **{field: 4})
    choice = cut["choices"][0]
    assert choice["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 4
    assert full["choices"][0]["message"]["content"].startswith(choice["message"]["content"])


def test_max_completion_tokens_wins_over_max_tokens(client):
    answer = chat(client, messages=user("hello"), max_tokens=50, max_completion_tokens=2)
    assert answer["usage"]["completion_tokens"] == 2


def test_streamed_text_matches_the_answer_and_its_usage(client):
    body = {
        "messages": user("stream this"),
        "n": 2,
        "seed": 5,
        "stream_options": {"include_usage": True},
    }
    answer = chat(client, **body)
    chunks, assembled = stream(client, **body)
    assert messages_of(assembled) == messages_of(answer)
    assert assembled["usage"] == answer["usage"]
    assert chunks[-1]["choices"] == []
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert len([c for c in contents if c]) > 5, "content arrives in token-sized pieces"


def test_stream_without_include_usage_has_no_usage(client):
    chunks, _ = stream(client, messages=user("hi"))
    assert all("usage" not in chunk for chunk in chunks)


# --- tools --------------------------------------------------------------------------------


def test_tool_call_arguments_come_from_the_text_and_fit_the_schema(client):
    answer = chat(client, messages=user(ASK), tools=[WEATHER, TIME])
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    [call] = choice["message"]["tool_calls"]
    assert call["id"].startswith("call_") and call["function"]["name"] == "GetWeather"
    arguments = call["function"]["arguments"]
    assert " " not in arguments.replace("'", ""), "arguments are compact JSON"
    assert json.loads(arguments) == {
        "location": {"city": "Paris", "country": "France"},
        "days": 3,
        "unit": "fahrenheit",
    }


def test_named_tools_are_called_in_parallel(client):
    text = "Call get_time for 'Europe/Oslo' and GetWeather for 'Oslo' 2 days"
    answer = chat(client, messages=user(text), tools=[WEATHER, TIME])
    calls = answer["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_time", "GetWeather"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"zone": "Europe/Oslo"}
    assert len({c["id"] for c in calls}) == 2
    single = chat(client, messages=user(text), tools=[WEATHER, TIME], parallel_tool_calls=False)
    assert len(single["choices"][0]["message"]["tool_calls"]) == 1


def test_tool_choice_none_and_named(client):
    none = chat(client, messages=user(ASK), tools=[WEATHER], tool_choice="none")
    assert none["choices"][0]["finish_reason"] == "stop"
    named = {"type": "function", "function": {"name": "get_time"}}
    answer = chat(client, messages=user(ASK), tools=[WEATHER, TIME], tool_choice=named)
    assert answer["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_time"


def test_unknown_named_tool_is_a_400(client):
    named = {"type": "function", "function": {"name": "missing"}}
    body = {"model": "mock", "messages": user("x"), "tools": [TIME], "tool_choice": named}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    assert check_error(response.get_json(), 400).param.startswith("tool_choice")


def test_after_a_tool_result_the_answer_is_text_about_it(client):
    first = chat(client, messages=user(ASK), tools=[WEATHER])
    call = first["choices"][0]["message"]["tool_calls"][0]
    history = [
        *user(ASK),
        first["choices"][0]["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 24 C"},
    ]
    answer = chat(client, messages=history, tools=[WEATHER])
    content = answer["choices"][0]["message"]["content"]
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert 'GetWeather returned "Sunny, 24 C"' in content


def test_streamed_tool_calls_add_up_to_the_answer(client):
    body = {
        "model": "gpt-4o",
        "messages": user("Call get_time for 'UTC' and GetWeather for 'Rome' 5 days"),
        "tools": [WEATHER, TIME],
        "n": 2,
        "stream_options": {"include_usage": True},
    }
    answer = chat(client, **body)
    chunks, assembled = stream(client, **body)
    assert messages_of(assembled) == messages_of(answer)
    assert [c["finish_reason"] for c in assembled["choices"]] == ["tool_calls"] * 2
    assert assembled["usage"] == answer["usage"]
    first_deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]][:3]
    assert first_deltas[0] == {"role": "assistant", "content": None, "refusal": None}
    header = first_deltas[1]["tool_calls"][0]
    assert header["function"] == {"name": "get_time", "arguments": ""}
    assert set(first_deltas[2]["tool_calls"][0]) == {"index", "function"}


def test_token_limit_cuts_tool_arguments_alike_in_both_modes(client):
    body = {"messages": user(ASK), "tools": [WEATHER], "max_tokens": 6}
    response = client.post("/v1/chat/completions", json={**body, "model": "mock"})
    answer = response.get_json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "length"
    arguments = choice["message"]["tool_calls"][0]["function"]["arguments"]
    with pytest.raises(ValueError):
        json.loads(arguments)
    assert answer["usage"]["completion_tokens"] <= 6
    streamed = client.post("/v1/chat/completions", json={**body, "model": "mock", "stream": True})
    pieces = [
        json.loads(block.removeprefix("data: "))
        for block in streamed.get_data(as_text=True).split("\n\n")
        if block.startswith("data: {")
    ]
    fragments = [
        item["function"]["arguments"]
        for chunk in pieces
        for item in chunk["choices"][0]["delta"].get("tool_calls") or []
    ]
    assert "".join(fragments) == arguments
    assert pieces[-1]["choices"][0]["finish_reason"] == "length"


def test_legacy_functions_answer_with_function_call(client):
    body = {"messages": user("weather for 'Lima' 2 days"), "functions": [WEATHER["function"]]}
    response = client.post("/v1/chat/completions", json={**body, "model": "mock"})
    choice = response.get_json()["choices"][0]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["content"] is None and "tool_calls" not in choice["message"]
    call = choice["message"]["function_call"]
    jsonschema.validate(json.loads(call["arguments"]), GetWeather.model_json_schema())
    streamed = client.post("/v1/chat/completions", json={**body, "model": "mock", "stream": True})
    chunks = [
        json.loads(block.removeprefix("data: "))
        for block in streamed.get_data(as_text=True).split("\n\n")
        if block.startswith("data: {")
    ]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert deltas[1]["function_call"] == {"name": call["name"], "arguments": ""}
    assert (
        "".join(d.get("function_call", {}).get("arguments", "") for d in deltas)
        == call["arguments"]
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "function_call"


@pytest.mark.parametrize(
    "extra",
    [
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}, "junk"]},
        {"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"x": 1}},
        {"tools": [{"type": "custom", "custom": {"name": "c"}}]},
        {"functions": [{"name": "f", "parameters": {"$ref": "#/nowhere"}}]},
        {"response_format": {"type": "json_schema", "json_schema": "junk"}},
        {"response_format": {"type": "json_schema", "json_schema": {"schema": {"$ref": "#"}}}},
        {"messages": [{"role": "user", "content": 5}, {"role": "tool"}, "junk"]},
    ],
)
def test_odd_requests_still_get_an_answer(extra):
    # The schema layer refuses most of these; the backend must not fail on them regardless.
    body = {"model": "m", "messages": user("x 'y' 3"), **extra}
    answer = MockBackend("mock", {}, {}).chat(Call(body, Route("m", "mock", "m")))
    check_chat_completion(answer)


# --- JSON output --------------------------------------------------------------------------


def test_json_object_uses_the_keys_the_messages_name(client):
    messages = [
        {"role": "system", "content": "Answer in JSON with 'setup' and 'punchline' keys."},
        *user('A joke about "cats", please'),
    ]
    answer = chat(client, messages=messages, response_format={"type": "json_object"})
    value = json.loads(answer["choices"][0]["message"]["content"])
    assert list(value) == ["setup", "punchline"]
    assert all(isinstance(v, str) and v for v in value.values())


def test_json_schema_output_is_an_instance_filled_from_the_text(client):
    schema = Joke.model_json_schema()
    response_format = {"type": "json_schema", "json_schema": {"name": "joke", "schema": schema}}
    answer = chat(client, messages=user("a joke rated 8"), response_format=response_format)
    joke = Joke.model_validate_json(answer["choices"][0]["message"]["content"])
    assert joke.rating == 8


# --- clients and options ------------------------------------------------------------------


@pytest.fixture
def http(app):
    """An httpx client that calls the app in-process."""
    with httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://gateway") as c:
        yield c


def test_openai_sdk_parse_and_stream(http):
    sdk = openai.OpenAI(api_key="sk-test", base_url="http://gateway/v1", http_client=http)
    parsed = sdk.chat.completions.parse(
        model="gpt-4o", messages=user("joke rated 9"), response_format=Joke
    )
    assert parsed.choices[0].message.parsed.rating == 9
    with sdk.chat.completions.stream(model="gpt-4o", messages=user(ASK), tools=[WEATHER]) as s:
        final = s.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments)["days"] == 3


def test_langchain_tools_and_structured_output(http):
    llm = ChatOpenAI(
        model="gpt-4o", api_key="sk-test", base_url="http://gateway/v1", http_client=http
    )
    message = llm.bind_tools([GetWeather]).invoke(ASK)
    assert message.tool_calls[0]["args"]["location"]["city"] == "Paris"
    assert llm.with_structured_output(Joke).invoke("a joke rated 3").rating == 3
    streamed = None
    for chunk in llm.bind_tools([GetWeather]).stream(ASK):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed.tool_calls[0]["args"] == message.tool_calls[0]["args"]


def test_chunk_delay_sleeps_between_chunks(config, monkeypatch):
    config["MODELS"] = {
        "backends": {"slow": {"type": "mock", "chunk_delay": 0.05}},
        "models": [{"id": "mock", "backend": "slow"}],
    }
    sleeps: list[float] = []
    monkeypatch.setattr(mock_stream.time, "sleep", sleeps.append)
    client = create_app(config).test_client()
    chunks, _ = stream(client, messages=user("hi"), stream_options={"include_usage": True})
    assert sleeps == [0.05] * (len(chunks) - 1)


@pytest.mark.parametrize("delay", [-1, "soon"])
def test_bad_chunk_delay_stops_start_up(config, delay):
    config["MODELS"] = {"backends": {"mock": {"type": "mock", "chunk_delay": delay}}, "models": []}
    with pytest.raises(ValueError, match="chunk_delay"):
        create_app(config)


def test_backend_directly_without_flask():
    backend = MockBackend("mock", {}, {})
    body = {"model": "m", "messages": user("direct 'call'"), "tools": [TIME], "seed": 1}
    answer = backend.chat(Call(body, Route("m", "mock", "m")))
    arguments = answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {"zone": "call"}
    result = backend.chat(Call({**body, "stream": True}, Route("m", "mock", "m")))
    chunks = list(result.events)
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


# --- logprobs -----------------------------------------------------------------------------


def test_logprobs_list_each_token_of_the_content(client):
    body = {"messages": user("Say hi"), "logprobs": True, "top_logprobs": 3, "n": 2}
    answer = chat(client, **body)
    assert answer == chat(client, **body) | {"id": answer["id"], "created": answer["created"]}
    for choice in answer["choices"]:
        tokens = choice["logprobs"]["content"]
        assert choice["logprobs"]["refusal"] is None
        assert "".join(t["token"] for t in tokens) == choice["message"]["content"]
        for token in tokens:
            assert token["bytes"] == list(token["token"].encode())
            assert token["logprob"] <= 0
            top = token["top_logprobs"]
            assert len(top) == 3 and top[0]["token"] == token["token"]
            assert [t["logprob"] for t in top] == sorted((t["logprob"] for t in top), reverse=True)
            assert sum(math.exp(t["logprob"]) for t in top) <= 1.0
    first, second = (c["logprobs"]["content"] for c in answer["choices"])
    assert [t["logprob"] for t in first] != [t["logprob"] for t in second]


def test_logprobs_without_top_logprobs_and_when_not_asked(client):
    tokens = chat(client, messages=user("Say hi"), logprobs=True)["choices"][0]["logprobs"]
    assert all(token["top_logprobs"] == [] for token in tokens["content"])
    for body in ({}, {"logprobs": False}, {"logprobs": None}):
        assert chat(client, messages=user("Say hi"), **body)["choices"][0]["logprobs"] is None


def test_streamed_logprobs_match_the_answer(client):
    body = {"messages": user("Say hi"), "logprobs": True, "top_logprobs": 2}
    chunks, assembled = stream(client, **body)
    streamed = [
        token
        for chunk in chunks
        for choice in chunk["choices"]
        if choice["logprobs"] is not None
        for token in choice["logprobs"]["content"]
    ]
    answer = chat(client, **body)
    assert streamed == answer["choices"][0]["logprobs"]["content"]
    assert "".join(t["token"] for t in streamed) == assembled["choices"][0]["message"]["content"]


def test_a_function_call_has_no_content_logprobs(client):
    answer = chat(
        client,
        messages=user("get weather"),
        tools=[_tool(GetWeather)],
        logprobs=True,
    )
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    assert answer["choices"][0]["logprobs"] == {"content": None, "refusal": None}
