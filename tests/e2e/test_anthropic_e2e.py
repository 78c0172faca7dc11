"""The Anthropic preset end to end: openai SDK and LangChain → gunicorn gateway → fake Anthropic."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
import requests
import yaml
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.fakes.anthropic import API_KEY
from tests.support.servers import ROOT, gunicorn_app, start_gateway

pytestmark = pytest.mark.slow

CLIENT_KEY = "sk-gw-anthropic-e2e"
HI = [{"role": "user", "content": "Hi there"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
PERSON = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """The fake Anthropic API."""
    server = gunicorn_app("tests.fakes.anthropic:app", tmp_path_factory.mktemp("fake_anthropic"))
    server.wait_ready("/v1/models")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, fake):
    """The shipped preset pointed at the fake, plus a route whose backend holds a wrong key."""
    data = yaml.safe_load((ROOT / "config/presets/anthropic.yaml").read_text())
    data["backends"]["anthropic"].update(base_url=fake.url, api_key_env="E2E_ANTHROPIC_KEY")
    data["backends"]["wrong_key"] = {
        "type": "anthropic",
        "base_url": fake.url,
        "api_key_env": "E2E_WRONG_KEY",
    }
    data["models"].insert(0, {"id": "wrong-key", "backend": "wrong_key", "model": "claude-x"})
    env = {
        "GATEWAY_API_KEYS": CLIENT_KEY,
        "E2E_ANTHROPIC_KEY": API_KEY,
        "E2E_WRONG_KEY": "sk-ant-wrong-key",
    }
    server = start_gateway(tmp_path_factory.mktemp("anthropic_gateway"), data, env=env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway_server(gateway):
    """This module's gateway, for the recording clients of tests/e2e/conftest.py."""
    return gateway


@pytest.fixture
def sdk(make_sdk) -> openai.OpenAI:
    """The recording SDK client (tests/e2e/conftest.py) with this module's gateway key."""
    return make_sdk(CLIENT_KEY)


@pytest.fixture
def plain_sdk(gateway) -> openai.OpenAI:
    """A client for error cases (its streams end in error events, which the recorder refuses)."""
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0)


def last_upstream_request(fake) -> dict:
    return requests.get(fake.url + "/_last", timeout=5).json()


def test_sdk_chat(sdk, fake):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "Be kind."},
        *HI,
    ]
    completion = sdk.chat.completions.create(
        model="claude-3-haiku", messages=messages, temperature=1.4
    )
    assert completion.model == "claude-3-haiku"
    assert completion.choices[0].message.content == "Hello from fake Claude ✓ — you said: Hi there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens > 0
    upstream = last_upstream_request(fake)
    assert upstream["body"]["model"] == "claude-3-haiku-20240307"
    assert upstream["body"]["system"] == "Be brief.\n\nBe kind."
    assert upstream["body"]["temperature"] == 1
    assert upstream["body"]["max_tokens"] == 4096
    assert upstream["headers"]["anthropic-version"] == "2023-06-01"


def test_sdk_stream_with_usage(sdk):
    stream = sdk.chat.completions.create(
        model="claude-sonnet-4-5",
        messages=HI,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from fake Claude ✓ — you said: Hi there"
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens > 0
    assert {c.model for c in chunks} == {"claude-sonnet-4-5"}


def test_sdk_stop_and_max_tokens(sdk):
    stopped = sdk.chat.completions.create(model="claude-3-opus", messages=HI, stop=["you"])
    assert stopped.choices[0].message.content == "Hello from fake Claude ✓ — "
    assert stopped.choices[0].finish_reason == "stop"
    cut = sdk.chat.completions.create(model="claude-3-opus", messages=HI, max_tokens=3)
    assert cut.choices[0].message.content == "Hello from fake"
    assert cut.choices[0].finish_reason == "length"


def test_sdk_tool_round_trip(sdk, fake):
    messages = [{"role": "user", "content": "Please use get_weather for me"}]
    first = sdk.chat.completions.create(model="claude-3-haiku", messages=messages, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Paris"},
    )
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18°C and sunny"},
    ]
    second = sdk.chat.completions.create(model="claude-3-haiku", messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content == "Tool results: 18°C and sunny"
    sent = last_upstream_request(fake)["body"]["messages"]
    assert [turn["role"] for turn in sent] == ["user", "assistant", "user"]


def test_sdk_parallel_tool_calls_stream(sdk):
    messages = [{"role": "user", "content": "use get_weather and get_time"}]
    stream = sdk.chat.completions.create(
        model="claude-3-haiku", messages=messages, tools=[WEATHER, TIME], stream=True
    )
    calls: dict[int, dict] = {}
    for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"name": delta.function.name, "args": ""})
            entry["args"] += delta.function.arguments or ""
    assert calls == {
        0: {"name": "get_weather", "args": '{"city": "Paris"}'},
        1: {"name": "get_time", "args": "{}"},
    }


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_json_schema(sdk, stream):
    request = dict(model="claude-3-haiku", messages=HI, response_format=PERSON)
    if stream:
        chunks = list(sdk.chat.completions.create(**request, stream=True))
        content = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert not any(c.choices[0].delta.tool_calls for c in chunks)
        finish = chunks[-1].choices[0].finish_reason
    else:
        message = sdk.chat.completions.create(**request).choices[0]
        content, finish = message.message.content, message.finish_reason
        assert message.message.tool_calls is None
    assert json.loads(content) == {"name": "name-value", "age": 42}
    assert finish == "stop"


def test_sdk_legacy_completion(sdk):
    completion = sdk.completions.create(model="claude-3-haiku", prompt="Say hi", max_tokens=50)
    assert completion.choices[0].text == "Hello from fake Claude ✓ — you said: Say hi"


def test_upstream_errors(plain_sdk):
    with pytest.raises(openai.InternalServerError) as overloaded:
        plain_sdk.chat.completions.create(
            model="claude-3-haiku", messages=[{"role": "user", "content": "[overloaded]"}]
        )
    assert overloaded.value.status_code == 503
    with pytest.raises(openai.RateLimitError) as limited:
        plain_sdk.chat.completions.create(
            model="claude-3-haiku", messages=[{"role": "user", "content": "[ratelimit]"}]
        )
    assert limited.value.response.headers["retry-after"] == "7"
    with pytest.raises(openai.AuthenticationError) as wrong:
        plain_sdk.chat.completions.create(model="wrong-key", messages=HI)
    assert wrong.value.code == "invalid_api_key"
    assert "sk-ant-wrong-key" not in wrong.value.message


@pytest.mark.parametrize("marker", ["[overloaded-mid]", "[cut]"])
def test_stream_interrupted_upstream(plain_sdk, marker):
    stream = plain_sdk.chat.completions.create(
        model="claude-3-haiku", messages=[{"role": "user", "content": marker}], stream=True
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received).startswith("Hello")


@pytest.fixture
def llm(gateway, recorder) -> ChatOpenAI:
    return ChatOpenAI(
        model="claude-3-haiku",
        base_url=gateway.url + "/v1",
        api_key=CLIENT_KEY,
        max_retries=0,
        http_client=httpx.Client(transport=recorder),
    )


def test_langchain_invoke_and_stream(llm):
    assert llm.invoke("Hi there").content == "Hello from fake Claude ✓ — you said: Hi there"
    chunks = list(llm.stream("Hi there", stream_usage=True))
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.content == "Hello from fake Claude ✓ — you said: Hi there"
    assert total.usage_metadata["output_tokens"] > 0


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"18°C in {city}"


def test_langchain_tool_round_trip(llm):
    bound = llm.bind_tools([get_weather])
    messages = [HumanMessage("Please use get_weather")]
    reply = bound.invoke(messages)
    assert reply.tool_calls[0]["name"] == "get_weather"
    assert reply.tool_calls[0]["args"] == {"city": "Paris"}
    result = get_weather.invoke(reply.tool_calls[0]["args"])
    messages += [reply, ToolMessage(result, tool_call_id=reply.tool_calls[0]["id"])]
    assert bound.invoke(messages).content == "Tool results: 18°C in Paris"


class Person(BaseModel):
    """A person."""

    name: str
    age: int


def test_langchain_structured_output(llm, fake):
    assert llm.with_structured_output(Person).invoke("Who?") == Person(name="name-value", age=42)
    assert last_upstream_request(fake)["body"]["tool_choice"] == {"type": "tool", "name": "Person"}
