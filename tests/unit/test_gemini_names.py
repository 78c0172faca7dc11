"""Gemini backend: function names OpenAI accepts but Gemini refuses, and their way back."""

from __future__ import annotations

import json
import re

import pytest

from app.backends.base import Call
from app.backends.gemini.stream import StreamTranslator
from app.backends.gemini.tools import ThoughtSignatures
from app.routing import Route
from tests.fakes.gemini import candidate, response, sse
from tests.fakes.gemini_checks import BadRequest, check_request
from tests.support.openai_checks import check_chat_completion, check_chat_stream
from tests.unit.gemini_helpers import OK, URL, chat, gemini_client, sent, tool_call

# Gemini: starts with a letter or an underscore; letters, digits, `_ . : -`; at most 64.
GEMINI_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
LONG = "9" + "x" * 63  # valid for OpenAI (64 characters), refused by Gemini (a leading digit)


def function(name: str) -> dict:
    parameters = {"type": "object", "properties": {"q": {"type": "string"}}}
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


def declared(body: dict) -> list[str]:
    return [d["name"] for d in body["tools"][0]["functionDeclarations"]]


def test_names_gemini_refuses_are_declared_under_valid_aliases(client, upstream):
    upstream.post(URL, json=OK)
    tools = [function("2fa_check"), function("-dash"), function(LONG), function("_2fa_check")]
    choice = {"type": "function", "function": {"name": "2fa_check"}}
    assert chat(client, tools=tools, tool_choice=choice).status_code == 200
    body = sent(upstream)
    check_request(body)
    names = declared(body)
    assert all(GEMINI_NAME.fullmatch(n) for n in names), names
    assert len(set(names)) == 4 and names[3] == "_2fa_check"  # valid names are kept
    assert body["toolConfig"]["functionCallingConfig"]["allowedFunctionNames"] == [names[0]]


def test_replayed_calls_and_results_use_the_same_aliases(client, upstream):
    upstream.post(URL, json=OK)
    messages = [
        {"role": "user", "content": "Check"},
        {"role": "assistant", "tool_calls": [tool_call("call_1", "2fa_check", '{"q":"a"}')]},
        {"role": "tool", "tool_call_id": "call_1", "content": "ok"},
    ]
    assert chat(client, tools=[function("2fa_check")], messages=messages).status_code == 200
    body = sent(upstream)
    check_request(body)
    alias = declared(body)[0]
    assert body["contents"][1]["parts"] == [{"functionCall": {"name": alias, "args": {"q": "a"}}}]
    response_part = body["contents"][2]["parts"][0]["functionResponse"]
    assert response_part == {"name": alias, "response": {"output": "ok"}}


def test_answer_calls_come_back_under_the_client_s_name(client, upstream):
    upstream.post(URL, json=OK)
    tools = [function("2fa_check"), function(LONG)]
    chat(client, tools=tools)
    aliases = declared(sent(upstream))
    assert all(GEMINI_NAME.fullmatch(a) for a in aliases), aliases
    parts = [{"functionCall": {"name": a, "args": {"q": "x"}}} for a in aliases]
    upstream.post(URL, json=response([candidate(parts)]))
    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "tools": tools}
    answer = chat(client, **request)
    assert answer.status_code == 200
    check_chat_completion(answer.json, request)
    calls = answer.json["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["2fa_check", LONG]


def test_streamed_calls_come_back_under_the_client_s_name(client, upstream):
    upstream.post(URL, json=OK)
    chat(client, tools=[function("2fa_check")])
    alias = declared(sent(upstream))[0]
    assert GEMINI_NAME.fullmatch(alias), alias
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "tools": [function("2fa_check")],
    }
    raw = sse(response([candidate([{"functionCall": {"name": alias, "args": {"q": "x"}}}])]))
    call = Call(body, Route("gpt-4o", "gemini", "gemini-2.5-flash"))
    chunks = list(StreamTranslator(call, ThoughtSignatures(), "gemini").events([raw]))
    message = check_chat_stream(chunks, body)["choices"][0]["message"]
    assert message["tool_calls"][0]["function"]["name"] == "2fa_check"
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"q": "x"}


def test_fake_gemini_refuses_the_names_gemini_refuses():
    declaration = {"functionDeclarations": [{"name": "2fa_check"}]}
    with pytest.raises(BadRequest):
        check_request(
            {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "tools": [declaration]}
        )
