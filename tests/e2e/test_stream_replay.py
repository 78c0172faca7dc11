"""An upstream that ignores `stream` (tests/fakes/unstreamed.py) behind real gunicorn: the
official SDK and LangChain still get the streams they asked for."""

from __future__ import annotations

import openai
import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.fakes.unstreamed import USAGE
from tests.support.servers import gateway_in_front

pytestmark = pytest.mark.slow

KEY = "sk-replay-client"
HI = [{"role": "user", "content": "Say hi"}]


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"Sunny in {city}."


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """The gateway with model `plain` on the upstream that never streams."""

    def models(base_url: str) -> dict:
        return {
            "backends": {"plain": {"type": "openai", "base_url": base_url}},
            "models": [{"id": "plain", "backend": "plain", "model": "plain-upstream"}],
        }

    folder = tmp_path_factory.mktemp("replay")
    with gateway_in_front("tests.fakes.unstreamed:app", folder, models, KEY) as server:
        yield server


@pytest.fixture
def sdk(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)


def test_sdk_chat_stream_with_usage(sdk):
    options = {"include_usage": True}
    chunks = list(
        sdk.chat.completions.create(model="plain", messages=HI, stream=True, stream_options=options)
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: Say hi"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == USAGE["total_tokens"]
    assert {c.model for c in chunks} == {"plain"}
    assert {c.system_fingerprint for c in chunks} == {"fp_unstreamed"}


def test_sdk_stream_helper_assembles_the_answer(sdk):
    with sdk.chat.completions.stream(model="plain", messages=HI) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Echo: Say hi"
    assert final.choices[0].finish_reason == "stop"


def test_sdk_legacy_completion_stream(sdk):
    chunks = list(sdk.completions.create(model="plain", prompt="Once", stream=True))
    assert "".join(c.choices[0].text for c in chunks) == " upon a time"
    assert chunks[-1].choices[0].finish_reason == "length"


def test_langchain_stream_and_tool_call_stream(gateway):
    llm = ChatOpenAI(model="plain", base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)
    pieces = list(llm.stream("Say hi"))
    assert "".join(str(piece.content) for piece in pieces) == "Echo: Say hi"
    merged: AIMessageChunk = sum(
        llm.bind_tools([get_weather]).stream("Weather?"), AIMessageChunk("")
    )
    assert merged.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1", "type": "tool_call"}
    ]
