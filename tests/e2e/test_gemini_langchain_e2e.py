"""The Gemini preset end to end: LangChain `ChatOpenAI` → gunicorn gateway → fake Gemini."""

from __future__ import annotations

import pytest
from langchain_openai import ChatOpenAI

from tests.e2e.gemini_servers import CLIENT_KEY, start_fake, start_gemini_gateway
from tests.support.provider_e2e import (
    Person,
    langchain_tool_round_trip,
    last_upstream,
    make_llm,
    server_fixtures,
    streamed_message,
)

pytestmark = pytest.mark.slow

REPLY = "Gemini fake reply to: Hi there ✓ café"

fake, gateway = server_fixtures("gemini_lc", start_fake, start_gemini_gateway)


@pytest.fixture
def llm(gateway, recorder) -> ChatOpenAI:
    return make_llm(gateway, recorder, CLIENT_KEY, "gpt-4")


def test_langchain_invoke_and_stream(llm):
    assert llm.invoke("Hi there").content == REPLY
    total = streamed_message(llm, "Hi there")
    assert total.content == REPLY
    # Eight words of reply plus the three thinking tokens the fake reports.
    assert total.usage_metadata["output_tokens"] == 11


def test_langchain_tool_round_trip(llm):
    reply = langchain_tool_round_trip(llm, "What is the weather?")
    assert reply.content == 'Tool results: get_weather -> {"output": "18\\u00b0C in Paris"}'


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_structured_output(gateway, recorder, fake, method):
    llm = make_llm(gateway, recorder, CLIENT_KEY, "gemini-2.5-flash")
    structured = llm.with_structured_output(Person, method=method)
    assert structured.invoke("Who?") == Person(name="name-value", age=42)
    body = last_upstream(fake)["body"]
    if method == "json_schema":
        assert body["generationConfig"]["responseMimeType"] == "application/json"
    else:
        assert body["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"] == ["Person"]
