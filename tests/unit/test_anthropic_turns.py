"""Anthropic backend: the turns sent for conversations Anthropic would refuse as they are."""

from __future__ import annotations

import responses

from app.backends.translate import CONVERSATION_START
from tests.support import anthropic_requests
from tests.support.anthropic_requests import sent, user

# The shared fixtures, bound here so that pytest finds them.
config = anthropic_requests.config
upstream = anthropic_requests.upstream


def assistant(text: str) -> dict:
    """An assistant turn of one text block, as the backend sends it to Anthropic."""
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def test_a_conversation_starting_with_the_assistant_gets_a_user_turn_first(client, upstream):
    messages = [
        {"role": "system", "content": "You are a support bot."},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "My order is late."},
    ]
    payload = sent(client, upstream, messages=messages)
    assert payload["system"] == "You are a support bot."
    assert payload["messages"] == [
        user(CONVERSATION_START),
        assistant("Hi! How can I help?"),
        user("My order is late."),
    ]


def test_a_lone_assistant_message_is_a_prefill_after_the_start_turn(client, upstream):
    messages = [{"role": "assistant", "content": "Once upon a time "}]
    assert sent(client, upstream, messages=messages)["messages"] == [
        user(CONVERSATION_START),
        assistant("Once upon a time"),
    ]


def test_a_conversation_starting_with_the_user_gets_no_extra_turn(client, upstream):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    assert sent(client, upstream, messages=messages)["messages"] == [user("Hi"), assistant("Hello")]


def test_whitespace_only_messages_are_dropped_and_neighbours_merged(client, upstream):
    messages = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": " \n"},
        {"role": "user", "content": "\n"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "\t "}, {"type": "text", "text": "two"}],
        },
        {"role": "assistant", "content": [{"type": "text", "text": "  "}]},
    ]
    assert sent(client, upstream, messages=messages)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": t} for t in ("one", "two")]}
    ]


def test_a_whitespace_only_text_part_is_dropped_from_its_turn(client, upstream):
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    messages = [{"role": "user", "content": [{"type": "text", "text": " \n "}, image]}]
    assert sent(client, upstream, messages=messages)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "url", "url": image["image_url"]["url"]}}
            ],
        }
    ]


def test_text_with_other_characters_keeps_its_whitespace(client, upstream):
    messages = [
        {"role": "user", "content": " Hi \n"},
        {"role": "assistant", "content": "Hello! "},
        {"role": "user", "content": "Go on"},
    ]
    assert sent(client, upstream, messages=messages)["messages"] == [
        user(" Hi \n"),
        assistant("Hello! "),
        user("Go on"),
    ]


def test_a_dropped_user_message_can_leave_the_assistant_first(client, upstream):
    messages = [
        {"role": "user", "content": " "},
        {"role": "assistant", "content": "Welcome back."},
        {"role": "user", "content": "Thanks"},
    ]
    assert sent(client, upstream, messages=messages)["messages"] == [
        user(CONVERSATION_START),
        assistant("Welcome back."),
        user("Thanks"),
    ]


def test_whitespace_only_text_beside_tool_calls_and_in_tool_results(client, upstream):
    call = {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "Call f"},
        {"role": "assistant", "content": "\n\n", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": " "},
    ]
    tools = [{"type": "function", "function": {"name": "f"}}]
    assert sent(client, upstream, messages=messages, tools=tools)["messages"] == [
        user("Call f"),
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
    ]


def test_a_whitespace_only_final_assistant_message_is_no_prefill(client, upstream):
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "Sure, "}]},
        {"role": "assistant", "content": " \n"},
    ]
    assert sent(client, upstream, messages=messages)["messages"] == [user("Hi"), assistant("Sure,")]


def test_only_whitespace_messages_are_400(client):
    request = {
        "model": "claude-3-haiku",
        "messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "\n"}],
    }
    with responses.RequestsMock():
        response = client.post("/v1/chat/completions", json=request)
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "messages"


def test_whitespace_only_system_and_developer_messages_are_left_out(client, upstream):
    messages = [
        {"role": "system", "content": " \n"},
        {"role": "developer", "content": [{"type": "text", "text": "\t"}]},
        {"role": "user", "content": "Hi"},
    ]
    assert "system" not in sent(client, upstream, messages=messages)
    messages.insert(1, {"role": "system", "content": "Be brief."})
    assert sent(client, upstream, messages=messages)["system"] == "Be brief."


def test_system_messages_alone_are_sent_as_the_user_turn(client, upstream):
    # OpenAI answers such a request; Anthropic needs a user message.
    messages = [
        {"role": "system", "content": "Name a fruit."},
        {"role": "developer", "content": "One word."},
        {"role": "user", "content": " "},
    ]
    payload = sent(client, upstream, messages=messages)
    assert "system" not in payload
    assert payload["messages"] == [user("Name a fruit.\n\nOne word.")]
