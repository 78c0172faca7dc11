"""t3chat request building: the web client's body shape and the folding of system prompts."""

from __future__ import annotations

import uuid

import pytest

from app.backends.base import Call
from app.backends.t3chat.request import SYSTEM_CLOSE, SYSTEM_OPEN, chat_body, chat_headers
from app.errors import InvalidRequestError, UnsupportedError
from app.routing import Route


def make_call(messages, route_options=None, **body) -> Call:
    route = Route("gpt-4o", "t3", "gemini-2.5-flash", options=route_options or {})
    return Call({"model": "gpt-4o", "messages": messages, **body}, route)


def texts(body) -> list[tuple[str, str]]:
    return [(m["role"], m["parts"][0]["text"]) for m in body["messages"]]


def test_body_has_the_web_client_shape():
    body, thread_id = chat_body(make_call([{"role": "user", "content": "Hi"}]), "sess-1", {})
    (turn,) = body["messages"]
    assert set(turn) == {"id", "role", "parts", "attachments"}
    assert turn["parts"] == [{"type": "text", "text": "Hi"}] and turn["attachments"] == []
    assert body["threadMetadata"] == {"id": thread_id}
    for value in (thread_id, body["responseMessageId"], turn["id"]):
        assert uuid.UUID(value).version == 4
    assert body["model"] == "gemini-2.5-flash"
    assert body["convexSessionId"] == "sess-1"
    assert body["modelParams"] == {"reasoningEffort": "low", "includeSearch": False}


def test_every_call_gets_fresh_ids():
    call = make_call([{"role": "user", "content": "Hi"}])
    (first, thread1), (second, thread2) = chat_body(call, "s", {}), chat_body(call, "s", {})
    assert thread1 != thread2
    assert first["responseMessageId"] != second["responseMessageId"]
    assert first["messages"][0]["id"] != second["messages"][0]["id"]


def test_system_and_developer_fold_into_the_first_user_turn():
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": [{"type": "text", "text": "Q"}, {"type": "text", "text": "2"}]},
    ]
    body, _ = chat_body(make_call(messages), "s", {})
    assert texts(body) == [
        ("user", f"{SYSTEM_OPEN}\nBe terse.\n\nAnswer in French.\n{SYSTEM_CLOSE}\n\nQ1"),
        ("assistant", "A1"),
        ("user", "Q2"),
    ]


def test_system_only_conversation_becomes_one_user_turn():
    body, _ = chat_body(make_call([{"role": "system", "content": "Say hi."}]), "s", {})
    assert texts(body) == [("user", f"{SYSTEM_OPEN}\nSay hi.\n{SYSTEM_CLOSE}")]


def test_assistant_first_history_still_folds_into_a_user_turn():
    messages = [
        {"role": "system", "content": "S"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Hi"},
    ]
    body, _ = chat_body(make_call(messages), "s", {})
    assert texts(body) == [
        ("assistant", "Hello!"),
        ("user", f"{SYSTEM_OPEN}\nS\n{SYSTEM_CLOSE}\n\nHi"),
    ]


def test_tool_results_travel_as_delimited_user_text():
    messages = [{"role": "user", "content": "Hi"}, {"role": "tool", "content": "42"}]
    body, _ = chat_body(make_call(messages), "s", {})
    assert texts(body)[1] == ("user", "[Tool result]\n42\n[End of tool result]")


def test_unknown_role_is_a_400():
    with pytest.raises(InvalidRequestError):
        chat_body(make_call([{"role": "robot", "content": "x"}]), "s", {})


@pytest.mark.parametrize(
    "messages, extra, param",
    [
        ([{"role": "user", "content": "x"}], {"n": 2}, "n"),
        ([{"role": "user", "content": "x"}], {"tools": [{"type": "function"}]}, "tools"),
        ([{"role": "user", "content": "x"}], {"logprobs": True}, "logprobs"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}],
            {},
            "messages[0].content[0]",
        ),
    ],
)
def test_what_the_web_protocol_cannot_do_is_refused(messages, extra, param):
    with pytest.raises(UnsupportedError) as info:
        chat_body(make_call(messages, **extra), "s", {})
    assert info.value.param == param
    assert info.value.status == 400


@pytest.mark.parametrize(
    "requested, configured, expected",
    [
        (None, None, "low"),
        (None, "high", "high"),
        ("medium", "high", "medium"),
        ("minimal", None, "low"),
        ("xhigh", None, "high"),
        ("none", None, "low"),
    ],
)
def test_reasoning_effort(requested, configured, expected):
    extra = {"reasoning_effort": requested} if requested else {}
    options = {"reasoning_effort": configured} if configured else {}
    body, _ = chat_body(make_call([{"role": "user", "content": "x"}], **extra), "s", options)
    assert body["modelParams"]["reasoningEffort"] == expected


def test_search_is_off_unless_asked_for():
    call = make_call([{"role": "user", "content": "x"}])
    assert chat_body(call, "s", {})[0]["modelParams"]["includeSearch"] is False
    assert chat_body(call, "s", {"include_search": True})[0]["modelParams"]["includeSearch"]
    call = make_call([{"role": "user", "content": "x"}], web_search_options={})
    assert chat_body(call, "s", {})[0]["modelParams"]["includeSearch"] is True


def test_headers_name_origin_and_thread():
    headers = chat_headers("https://t3.chat", "thread-1")
    assert headers["Origin"] == "https://t3.chat"
    assert headers["Referer"] == "https://t3.chat/chat/thread-1"
    assert headers["Content-Type"] == "application/json"
    assert "Cookie" not in headers
    assert chat_headers("http://h:1/sse", "t")["Origin"] == "http://h:1"
