"""The mock's answers at their limits: billed tokens, huge schema instances and string formats."""

from __future__ import annotations

import json
import random
from datetime import time, timedelta

import pytest
from pydantic import BaseModel

from app.backends.mock import patterns
from app.backends.mock.extract import Literals
from app.backends.mock.instances import InstanceBuilder
from tests.support.body_checks import check_chat_chunk, check_chat_completion
from tests.unit.mock_helpers import chat, user

LONG_NAME = {
    "type": "function",
    "function": {
        "name": "get_current_weather_for_a_location_anywhere_in_the_world",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
# The most JSON the mock writes for one instance (`instances.MAX_SIZE`).
MAX_SIZE = 100_000
# Nested minimum counts multiply: 300 x 300 strings, far more than any answer can hold.
HUGE = {
    "type": "object",
    "properties": {
        "rows": {
            "type": "array",
            "minItems": 300,
            "items": {"type": "array", "minItems": 300, "items": {"type": "string"}},
        }
    },
    "required": ["rows"],
}


def cut_chat(client, **body) -> dict:
    """A chat answer checked for shape only (the helpers' checks want whole JSON arguments)."""
    response = client.post("/v1/chat/completions", json={"model": "mock", **body})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    check_chat_completion(response.get_json())
    return response.get_json()


def cut_stream_usage(client, **body) -> dict:
    """The usage chunk of a streamed answer, every chunk checked for shape."""
    options = {"include_usage": True}
    request = {"model": "mock", **body, "stream": True, "stream_options": options}
    text = client.post("/v1/chat/completions", json=request).get_data(as_text=True)
    chunks = [json.loads(b[6:]) for b in text.split("\n\n") if b.startswith("data: {")]
    for chunk in chunks:
        check_chat_chunk(chunk)
    assert chunks[-1]["choices"] == []
    return chunks[-1]["usage"]


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_a_cut_tool_call_bills_no_more_than_max_tokens(client, limit):
    body = {"messages": user("weather in 'Oslo'"), "tools": [LONG_NAME], "max_tokens": limit}
    answer = cut_chat(client, **body)
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == limit
    assert cut_stream_usage(client, **body) == answer["usage"]


def test_a_character_split_across_tokens_is_billed_up_to_the_limit(client):
    # "𝔘" is several tokens that the mock sends whole: a limit inside it still bills the limit.
    answer = cut_chat(client, model="gpt-4o", messages=user("𝔘𝔘𝔘"), max_tokens=9)
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 9


def test_an_instance_too_large_to_write_is_cut_like_an_answer_at_its_output_limit(client):
    response_format = {"type": "json_schema", "json_schema": {"name": "grid", "schema": HUGE}}
    answer = cut_chat(client, messages=user("fill the grid"), response_format=response_format)
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "length"
    assert len(choice["message"]["content"]) <= MAX_SIZE
    with pytest.raises(ValueError):
        json.loads(choice["message"]["content"])
    tool = {"type": "function", "function": {"name": "grid", "parameters": HUGE}}
    second = {"type": "function", "function": {"name": "other"}}
    called = cut_chat(client, messages=user("grid and other"), tools=[tool, second])
    choice = called["choices"][0]
    assert choice["finish_reason"] == "length"
    [call] = choice["message"]["tool_calls"]  # a cut answer calls nothing after the cut
    assert len(call["function"]["arguments"]) <= MAX_SIZE


@pytest.mark.parametrize(("items", "full"), [(990, False), (991, True)])
def test_the_size_limit_counts_the_json_written(items, full):
    # Each item is 100 characters with its quotes, and the list adds its brackets and commas:
    # 990 items make 99,992 characters, 991 make 100,093.
    schema = {"type": "array", "minItems": items, "items": {"const": "x" * 98}}
    builder = InstanceBuilder(schema, Literals(""), random.Random(0))
    value = builder.build()
    assert builder.full is full
    assert len(json.dumps(value, separators=(",", ":"))) == 101 * items + 1


def test_nested_pattern_repeats_do_not_make_huge_strings():
    assert patterns.sample(r"^((a{100}){100}){10}$", random.Random(0)) is None
    assert patterns.sample(r"^(a{100}){10}$", random.Random(0)) == "a" * 1000


def test_a_pattern_too_long_to_sample_is_never_sampled(monkeypatch):
    # A pattern whose shortest match is 10^9 characters: every string of a 1,000 x 1,000 grid
    # used to write 10,000 characters of it before giving up (189 s of CPU for one request).
    def no_sampling(*args):
        raise AssertionError("a sample of a pattern too long to sample was started")

    monkeypatch.setattr(patterns, "_emit", no_sampling)
    string = {"type": "string", "maxLength": 1, "pattern": "^((a{1000}){1000}){1000}$"}
    grid = {"type": "array", "minItems": 1000, "items": {"type": "array", "minItems": 1000}}
    grid["items"]["items"] = string
    assert patterns.sample(string["pattern"], random.Random(0)) is None
    builder = InstanceBuilder(grid, Literals(""), random.Random(0))
    builder.build()
    assert builder.full


class Slot(BaseModel):
    label: str
    starts: time
    lasts: timedelta


def test_time_and_duration_fields_get_only_values_of_their_format(client):
    schema = Slot.model_json_schema()
    response_format = {"type": "json_schema", "json_schema": {"name": "slot", "schema": schema}}
    text = "Book 'standup' and 'retro'"
    answer = chat(client, messages=user(text), response_format=response_format)
    slot = Slot.model_validate_json(answer["choices"][0]["message"]["content"])
    assert slot.label == "standup"
