"""The mock backend with the OpenAI SDK and LangChain, its chunk delay, and called directly."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from app import create_app
from app.backends.base import Call
from app.backends.mock import MockBackend
from app.backends.mock import stream as mock_stream
from app.routing import Route
from tests.unit.mock_helpers import ASK, TIME, WEATHER, GetWeather, Joke, stream, user


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
