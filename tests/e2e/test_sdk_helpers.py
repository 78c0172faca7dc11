"""The official SDK's typed helpers against the mock: `parse` with pydantic models, the
`stream()` helper's events, and strict pydantic function tools."""

from __future__ import annotations

import enum

import openai
import pytest
from pydantic import BaseModel

pytestmark = pytest.mark.slow

MODEL = "gpt-4o-mini"


class Unit(enum.StrEnum):
    """A temperature unit."""

    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Forecast(BaseModel):
    """Arguments of the weather tool."""

    city: str
    unit: Unit
    days: int


class Step(BaseModel):
    """One step of a plan."""

    title: str
    minutes: int


class Plan(BaseModel):
    """A plan with nested objects and a list."""

    goal: str
    steps: list[Step]
    done: bool


def test_parse_fills_the_pydantic_model(sdk):
    completion = sdk.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Plan a short walk."}],
        response_format=Plan,
    )
    message = completion.choices[0].message
    assert isinstance(message.parsed, Plan) and message.refusal is None
    assert Plan.model_validate_json(message.content) == message.parsed


def test_parse_with_strict_pydantic_tools(sdk):
    completion = sdk.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Paris for 3 days?"}],
        tools=[openai.pydantic_function_tool(Forecast, name="forecast")],
        tool_choice="required",
    )
    (call,) = completion.choices[0].message.tool_calls
    assert call.function.name == "forecast"
    assert isinstance(call.function.parsed_arguments, Forecast)
    assert completion.choices[0].finish_reason == "tool_calls"


def test_stream_helper_events_and_final_parse(sdk):
    with sdk.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "Plan a short walk."}],
        response_format=Plan,
        stream_options={"include_usage": True},
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "content.delta" in kinds and "content.done" in kinds
    assert kinds.count("chunk") > 2
    assert isinstance(final.choices[0].message.parsed, Plan)
    assert final.usage is not None and final.usage.total_tokens > 0


def test_stream_helper_tool_call_events(sdk):
    with sdk.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Paris for 3 days?"}],
        tools=[openai.pydantic_function_tool(Forecast, name="forecast")],
        tool_choice="required",
    ) as stream:
        done = [e for e in stream if e.type == "tool_calls.function.arguments.done"]
        final = stream.get_final_completion()
    assert [e.name for e in done] == ["forecast"]
    assert isinstance(done[0].parsed_arguments, Forecast)
    parsed = final.choices[0].message.tool_calls[0].function.parsed_arguments
    assert parsed == done[0].parsed_arguments
