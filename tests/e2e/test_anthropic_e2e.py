"""The Anthropic preset end to end: openai SDK and LangChain → gunicorn gateway → fake Anthropic."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest
import yaml
from langchain_openai import ChatOpenAI

from tests.fakes.anthropic import API_KEY
from tests.support.provider_e2e import (
    HI,
    PERSON,
    TIME,
    Person,
    client_fixtures,
    langchain_tool_round_trip,
    last_upstream,
    make_llm,
    server_fixtures,
    streamed_message,
    streamed_tool_calls,
    text_before_error,
    weather_tool,
)
from tests.support.servers import ROOT, ServerProcess, gunicorn_app, start_gateway

pytestmark = pytest.mark.slow

CLIENT_KEY = "sk-gw-anthropic-e2e"
WEATHER = weather_tool({"city": {"type": "string"}})


def start_fake(tmp_path: Path) -> ServerProcess:
    """The fake Anthropic API, ready to answer."""
    return gunicorn_app("tests.fakes.anthropic:app", tmp_path).wait_ready("/v1/models")


def start_anthropic_gateway(tmp_path: Path, fake: ServerProcess) -> ServerProcess:
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
    return start_gateway(tmp_path, data, env=env)


fake, gateway = server_fixtures("anthropic", start_fake, start_anthropic_gateway)
gateway_server, sdk, plain_sdk = client_fixtures(CLIENT_KEY)


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
    upstream = last_upstream(fake)
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
    sent = last_upstream(fake)["body"]["messages"]
    assert [turn["role"] for turn in sent] == ["user", "assistant", "user"]


def test_sdk_parallel_tool_calls_stream(sdk):
    messages = [{"role": "user", "content": "use get_weather and get_time"}]
    request = dict(model="claude-3-haiku", messages=messages, tools=[WEATHER, TIME])
    assert streamed_tool_calls(sdk, **request) == {
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
    assert text_before_error(plain_sdk, "claude-3-haiku", marker).startswith("Hello")


@pytest.fixture
def llm(gateway, recorder) -> ChatOpenAI:
    return make_llm(gateway, recorder, CLIENT_KEY, "claude-3-haiku")


def test_langchain_invoke_and_stream(llm):
    assert llm.invoke("Hi there").content == "Hello from fake Claude ✓ — you said: Hi there"
    total = streamed_message(llm, "Hi there")
    assert total.content == "Hello from fake Claude ✓ — you said: Hi there"
    assert total.usage_metadata["output_tokens"] > 0


def test_langchain_tool_round_trip(llm):
    reply = langchain_tool_round_trip(llm, "Please use get_weather")
    assert reply.content == "Tool results: 18°C in Paris"


def test_langchain_structured_output(llm, fake):
    assert llm.with_structured_output(Person).invoke("Who?") == Person(name="name-value", age=42)
    assert last_upstream(fake)["body"]["tool_choice"] == {"type": "tool", "name": "Person"}
