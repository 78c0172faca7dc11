"""LangChain's `ChatOpenAI` against the gateway: invoke, stream, tools, structured output."""

from __future__ import annotations

import enum
import functools
import operator
from typing import Literal

import jsonschema
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

pytestmark = pytest.mark.slow


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"], days: int = 1) -> str:
    """Weather forecast for a city."""
    return f"Sunny in {city} for {days} day(s), 21 degrees {unit}."


WEATHER_SCHEMA = convert_to_openai_tool(get_weather)["function"]["parameters"]


class Role(enum.StrEnum):
    """What a person may do."""

    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


class Address(BaseModel):
    """A postal address."""

    city: str
    zip_code: str = Field(description="Postal code")


class Person(BaseModel):
    """A person with a nested address, an enum field and an optional one."""

    name: str
    age: int
    role: Role
    address: Address
    tags: list[str]
    nickname: str | None = None


def test_invoke(chat_model):
    reply = chat_model().invoke("Say hi to the gateway")
    assert isinstance(reply, AIMessage) and reply.content
    assert reply.response_metadata["finish_reason"] == "stop"
    assert reply.usage_metadata["input_tokens"] > 0 and reply.usage_metadata["output_tokens"] > 0


def test_stream_with_usage(chat_model):
    model = chat_model(stream_usage=True)
    chunks = list(model.stream("Say hi to the gateway"))
    assert len(chunks) > 3
    aggregated = functools.reduce(operator.add, chunks)
    assert aggregated.content == model.invoke("Say hi to the gateway").content
    # One chunk carries the usage, after every piece of content (LangChain may add an empty
    # closing chunk of its own).
    with_usage = [i for i, chunk in enumerate(chunks) if chunk.usage_metadata]
    assert len(with_usage) == 1
    assert not any(chunk.content for chunk in chunks[with_usage[0] :])
    usage = aggregated.usage_metadata
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0


def test_bind_tools_returns_tool_calls_matching_the_schema(chat_model):
    model = chat_model().bind_tools([get_weather], tool_choice="required")
    reply = model.invoke("What is the weather in Paris?")
    assert reply.tool_calls and not reply.invalid_tool_calls
    for call in reply.tool_calls:
        assert call["name"] == "get_weather" and call["id"]
        jsonschema.validate(call["args"], WEATHER_SCHEMA)


def test_tool_round_trip(chat_model):
    messages = [HumanMessage("What is the weather in Paris?")]
    first = chat_model().bind_tools([get_weather], tool_choice="required").invoke(messages)
    call = first.tool_calls[0]
    messages += [first, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    final = chat_model().bind_tools([get_weather]).invoke(messages)
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert isinstance(final.content, str) and final.content
    assert final.response_metadata["finish_reason"] == "stop"


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_structured_output(chat_model, method):
    structured = chat_model().with_structured_output(Person, method=method)
    person = structured.invoke("Describe a person who edits articles")
    assert isinstance(person, Person)
    assert isinstance(person.address, Address) and isinstance(person.role, Role)
    assert person.name and all(isinstance(tag, str) for tag in person.tags)
    assert person.nickname is None or isinstance(person.nickname, str)
