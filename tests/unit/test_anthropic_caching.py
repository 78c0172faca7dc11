"""Anthropic backend: prompt caching breakpoints (`prompt_caching`), clients' own breakpoints, and
cache reads and writes in the usage, plain and streamed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import responses

from app.backends.anthropic.backend import AnthropicBackend
from app.backends.anthropic.request import build_request
from tests.fakes import anthropic as fake
from tests.fakes import anthropic_caching
from tests.fakes.anthropic_wire import TEXT_EVENTS, end, gateway_models, message, sse, start
from tests.support.anthropic_requests import fake_messages_api
from tests.support.openai_checks import check_chat_completion, check_chat_sse

BASE = "https://api.anthropic.test"
MARK = {"type": "ephemeral"}
TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("get_time", "get_weather")
]
CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "One"},
    {"role": "assistant", "content": "1"},
    {"role": "user", "content": [{"type": "text", "text": "Two"}, {"type": "text", "text": "2?"}]},
    {"role": "assistant", "content": "2"},
    {"role": "user", "content": "Three"},
]
CACHING = pytest.mark.parametrize("options", [{"prompt_caching": True}])


@pytest.fixture
def options() -> dict[str, Any]:
    """The Anthropic backend's options (parametrized by the tests that turn caching on)."""
    return {}


@pytest.fixture
def config(config, monkeypatch, options):
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", fake.API_KEY)
    return {**config, "MODELS": gateway_models(BASE, "TEST_ANTHROPIC_KEY", **options)}


@pytest.fixture
def upstream():
    """The fake Anthropic API (tests/fakes/anthropic.py) behind the Messages API's URL."""
    with fake_messages_api() as mock:
        yield mock


def sent(client, upstream, **body: Any) -> dict[str, Any]:
    """POST a chat request through the gateway; the body the fake Anthropic API received."""
    request = {"model": "claude-sonnet-4-5", "messages": CHAT, **body}
    response = client.post("/v1/chat/completions", json=request)
    assert response.status_code == 200, response.get_data(as_text=True)
    check_chat_completion(response.get_json(), request)
    return json.loads(upstream.calls[-1].request.body)


def marks(payload: dict[str, Any]) -> list[str]:
    """Where the request's breakpoints are: the texts (or tool names) of the marked blocks."""
    found = [(tool["name"], tool) for tool in payload.get("tools") or []]
    system = payload.get("system")
    found += [(block["text"], block) for block in system] if isinstance(system, list) else []
    for turn in payload["messages"]:
        for block in turn["content"]:
            label = block.get("text") or block.get("tool_use_id") or block.get("id")
            found.append((label, block))
    assert all(block.get("cache_control", MARK) == MARK for _, block in found)
    return [label for label, block in found if "cache_control" in block]


def explicit(text: str) -> dict[str, Any]:
    """A text part with OpenAI's explicit cache breakpoint."""
    return {"type": "text", "text": text, "prompt_cache_breakpoint": {"mode": "explicit"}}


def test_off_by_default_and_client_marks_are_not_sent(client, upstream):
    messages = [
        {**CHAT[0], "cache_control": MARK},
        {"role": "user", "content": [{"type": "text", "text": "Hi", "cache_control": MARK}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "there", "prompt_cache_breakpoint": {"mode": "explicit"}}
            ],
        },
    ]
    payload = sent(client, upstream, messages=messages, tools=TOOLS)
    assert "cache_control" not in json.dumps(payload)
    assert payload["system"] == "You are terse."


@CACHING
def test_breakpoints_go_on_the_last_tool_the_system_and_the_last_two_user_turns(client, upstream):
    payload = sent(client, upstream, tools=TOOLS)
    assert marks(payload) == ["get_weather", "You are terse.", "2?", "Three"]
    assert payload["system"] == [{"type": "text", "text": "You are terse.", "cache_control": MARK}]


def unmarked(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` without its breakpoints, its system prompt a string again."""
    for item in [*payload.get("tools", []), *payload.get("system", [])]:
        item.pop("cache_control", None)
    for turn in payload["messages"]:
        for block in turn["content"]:
            block.pop("cache_control", None)
    if isinstance(payload.get("system"), list):
        payload["system"] = payload["system"][0]["text"]
    return payload


def test_caching_changes_nothing_but_the_breakpoints():
    body = {
        "model": "claude",
        "messages": CHAT,
        "tools": TOOLS,
        "top_p": 0.97,
        "stop": ["END"],
        "reasoning_effort": "low",
        "response_format": {"type": "json_object"},
        "user": "u-1",
    }
    plain = build_request(copy.deepcopy(body), "claude-sonnet-4-5", {}).payload
    cached = build_request(copy.deepcopy(body), "claude-sonnet-4-5", {"cache_mark": MARK})
    assert marks(cached.payload) == ["get_weather", plain["system"], "2?", "Three"]
    assert unmarked(cached.payload) == plain


@CACHING
def test_each_breakpoint_is_only_where_there_is_something(client, upstream):
    payload = sent(client, upstream, messages=CHAT[-1:])
    assert marks(payload) == ["Three"] and "system" not in payload
    payload = sent(client, upstream, messages=[*CHAT[1:3], {"role": "user", "content": "Go on"}])
    assert marks(payload) == ["One", "Go on"]


@CACHING
def test_a_final_assistant_message_is_not_marked(client, upstream):
    payload = sent(client, upstream, messages=[*CHAT[:3]], model="claude-3-haiku")
    assert payload["messages"][-1]["role"] == "assistant"
    assert marks(payload) == ["You are terse.", "One"]


@pytest.mark.parametrize("options", [{"prompt_caching": True, "prompt_cache_ttl": "1h"}])
def test_a_one_hour_ttl(client, upstream):
    payload = sent(client, upstream, messages=CHAT[:2])
    assert payload["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert payload["messages"][0]["content"][0]["cache_control"] == {
        "type": "ephemeral",
        "ttl": "1h",
    }


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"prompt_caching": "yes"}, "prompt_caching must be true or false"),
        ({"prompt_caching": True, "prompt_cache_ttl": "30m"}, "prompt_cache_ttl must be one of"),
    ],
)
def test_wrong_option_values_are_refused(options, problem):
    with pytest.raises(ValueError, match=problem):
        AnthropicBackend("claude", options, {})


@CACHING
def test_client_breakpoints_take_the_latest_three_and_the_last_user_turn(client, upstream):
    messages = [
        {"role": "developer", "content": [explicit("Stay calm.")]},
        {
            "role": "user",
            "content": [explicit("A"), {"type": "text", "text": "B", "cache_control": MARK}],
        },
        {"role": "assistant", "content": [explicit("Noted.")]},
        {"role": "user", "content": [explicit("C"), {"type": "text", "text": "D"}]},
    ]
    payload = sent(client, upstream, messages=messages, tools=TOOLS)
    assert marks(payload) == ["B", "Noted.", "C", "D"]


@CACHING
def test_explicit_mode_sends_only_the_clients_latest_four(client, upstream):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    messages = [
        {"role": "system", "content": [explicit("Stay calm.")]},
        {"role": "user", "content": "What time is it?", "cache_control": MARK},
        {"role": "assistant", "content": None, "tool_calls": [call], "cache_control": MARK},
        {"role": "tool", "tool_call_id": "call_1", "content": [explicit("9 am")]},
        {"role": "user", "content": "Thanks"},
    ]
    options = {"prompt_cache_options": {"mode": "explicit"}}
    payload = sent(client, upstream, messages=messages, tools=TOOLS, **options)
    assert marks(payload) == ["Stay calm.", "What time is it?", "call_1", "call_1"]
    only_system = [messages[0], {"role": "user", "content": "Hi"}]
    assert marks(sent(client, upstream, messages=only_system, **options)) == ["Stay calm."]
    assert marks(sent(client, upstream, messages=CHAT[1:2], **options)) == []


@CACHING
def test_later_turns_read_what_earlier_turns_wrote(client, upstream, monkeypatch):
    monkeypatch.setattr(anthropic_caching, "_entries", {})
    rules = {"role": "system", "content": "Follow the house rules. " * 300}
    request = {
        "model": "claude-sonnet-4-5",
        "messages": [rules, {"role": "user", "content": "One"}],
    }
    first = client.post("/v1/chat/completions", json=request).get_json()
    check_chat_completion(first, request)
    assert "prompt_tokens_details" not in first["usage"]
    turn = [first["choices"][0]["message"], {"role": "user", "content": "Two"}]
    request = {
        **request,
        "messages": [*request["messages"], *turn],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    response = client.post("/v1/chat/completions", json=request)
    events = [e.removeprefix(b"data: ").decode() for e in response.get_data().split(b"\n\n") if e]
    usage = check_chat_sse(events, request)["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == first["usage"]["prompt_tokens"]
    assert usage["prompt_tokens"] > first["usage"]["prompt_tokens"]


def test_stream_usage_counts_cache_reads_and_writes_in_the_prompt(client):
    request = {
        "model": "claude-sonnet-4-5",
        "messages": CHAT,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    counts = {"cache_creation_input_tokens": 300, "cache_read_input_tokens": 2000}
    # message_delta repeats the input counts; a null one keeps the count it had.
    delta = {
        "input_tokens": 12,
        "cache_creation_input_tokens": None,
        "cache_read_input_tokens": 2000,
    }
    events = [
        start(12, "claude-sonnet-4-5", **counts),
        *TEXT_EVENTS[1:-2],
        *end("end_turn", 7, **delta),
    ]
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            f"{BASE}/v1/messages",
            body=sse(*events),
            content_type="text/event-stream",
        )
        response = client.post("/v1/chat/completions", json=request)
    data = [e.removeprefix(b"data: ").decode() for e in response.get_data().split(b"\n\n") if e]
    assert check_chat_sse(data, request)["usage"] == {
        "prompt_tokens": 2312,
        "completion_tokens": 7,
        "total_tokens": 2319,
        "prompt_tokens_details": {"cached_tokens": 2000},
    }


def test_answer_usage_counts_cache_writes_in_the_prompt(client):
    reply = message(
        [{"type": "text", "text": "ok"}],
        input_tokens=5,
        output_tokens=2,
        cache_creation_input_tokens=4000,
    )
    request = {"model": "claude-3-haiku", "messages": CHAT}
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/v1/messages", json=reply)
        body = client.post("/v1/chat/completions", json=request).get_json()
    check_chat_completion(body, request)
    assert body["usage"] == {"prompt_tokens": 4005, "completion_tokens": 2, "total_tokens": 4007}
