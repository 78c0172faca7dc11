"""The Gemini preset end to end: LangChain `ChatOpenAI` → gunicorn gateway → fake Gemini."""

from __future__ import annotations

import httpx
import pytest
import requests
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.e2e.gemini_servers import CLIENT_KEY, start_fake, start_gemini_gateway

pytestmark = pytest.mark.slow

REPLY = "Gemini fake reply to: Hi there ✓ café"


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    server = start_fake(tmp_path_factory.mktemp("fake_gemini_lc"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, fake):
    server = start_gemini_gateway(tmp_path_factory.mktemp("gemini_gateway_lc"), fake)
    yield server
    server.stop()


def make_llm(gateway, recorder, model: str = "gpt-4") -> ChatOpenAI:
    return ChatOpenAI(
        model=model,
        base_url=gateway.url + "/v1",
        api_key=CLIENT_KEY,
        max_retries=0,
        http_client=httpx.Client(transport=recorder),
    )


def last_upstream(fake) -> dict:
    return requests.get(fake.url + "/_last", timeout=5).json()


@pytest.fixture
def llm(gateway, recorder) -> ChatOpenAI:
    return make_llm(gateway, recorder)


def test_langchain_invoke_and_stream(llm):
    assert llm.invoke("Hi there").content == REPLY
    chunks = list(llm.stream("Hi there", stream_usage=True))
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.content == REPLY
    # Eight words of reply plus the three thinking tokens the fake reports.
    assert total.usage_metadata["output_tokens"] == 11


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"18°C in {city}"


def test_langchain_tool_round_trip(llm):
    bound = llm.bind_tools([get_weather])
    messages = [HumanMessage("What is the weather?")]
    reply = bound.invoke(messages)
    assert reply.tool_calls[0]["name"] == "get_weather"
    assert reply.tool_calls[0]["args"] == {"city": "Paris"}
    result = get_weather.invoke(reply.tool_calls[0]["args"])
    messages += [reply, ToolMessage(result, tool_call_id=reply.tool_calls[0]["id"])]
    assert bound.invoke(messages).content == (
        'Tool results: get_weather -> {"output": "18\\u00b0C in Paris"}'
    )


class Person(BaseModel):
    """A person."""

    name: str
    age: int


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_structured_output(gateway, recorder, fake, method):
    llm = make_llm(gateway, recorder, "gemini-2.5-flash")
    structured = llm.with_structured_output(Person, method=method)
    assert structured.invoke("Who?") == Person(name="name-value", age=42)
    body = last_upstream(fake)["body"]
    if method == "json_schema":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
    else:
        assert body["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"] == ["Person"]
