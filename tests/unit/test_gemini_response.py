"""Gemini backend: GenerateContentResponse bodies as OpenAI chat.completion objects."""

from __future__ import annotations

import json

import pytest

from app.tokens import count_functions, count_messages, count_text
from tests.fakes.gemini import candidate, response, usage_metadata
from tests.support.openai_checks import check_chat_completion
from tests.unit.gemini_helpers import URL, chat, gemini_client

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
SAFETY_RATINGS = [
    {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
]


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


def answer_for(client, upstream, payload, **request):
    upstream.post(URL, json=payload)
    answer = chat(client, **request)
    assert answer.status_code == 200, answer.json
    request.setdefault("model", "gpt-4o")
    request.setdefault("messages", [{"role": "user", "content": "Hi"}])
    check_chat_completion(answer.json, request)
    return answer.json


def test_text_answer_with_thoughts_skipped_and_usage(client, upstream):
    parts = [
        {"text": "Let me think about greetings.", "thought": True},
        {"text": "Hello"},
        {"text": ", world ✓"},
    ]
    body = answer_for(client, upstream, response([candidate(parts)], usage_metadata(7, 4, 12)))
    assert body["model"] == "gpt-4o"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello, world ✓", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 16,
        "total_tokens": 23,
        "completion_tokens_details": {"reasoning_tokens": 12},
    }
    assert "system_fingerprint" not in body


def test_cached_tokens_are_reported(client, upstream):
    usage = {**usage_metadata(100, 2), "cachedContentTokenCount": 64}
    body = answer_for(client, upstream, response([candidate([{"text": "ok"}])], usage))
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 64}


def test_parallel_function_calls_become_tool_calls(client, upstream):
    parts = [
        {
            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
            "thoughtSignature": "QQ==",
        },
        {"functionCall": {"name": "get_weather", "args": {"city": "Tōkyō"}}},
    ]
    payload = response([candidate(parts)], usage_metadata(20, 10))
    body = answer_for(client, upstream, payload, tools=[WEATHER])
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == ['{"city":"Paris"}', '{"city":"Tōkyō"}']
    assert all(c["id"].startswith("call_") and c["type"] == "function" for c in calls)
    assert len({c["id"] for c in calls}) == 2


def test_parallel_tool_calls_false_keeps_the_first_call_only(client, upstream):
    parts = [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
    ]
    payload = response([candidate(parts)], usage_metadata(20, 10))
    body = answer_for(client, upstream, payload, tools=[WEATHER], parallel_tool_calls=False)
    choice = body["choices"][0]
    assert [c["function"]["arguments"] for c in choice["message"]["tool_calls"]] == [
        '{"city":"Paris"}'
    ]
    assert choice["finish_reason"] == "tool_calls"


def test_text_and_call_in_one_answer(client, upstream):
    parts = [
        {"text": "Checking."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
    ]
    body = answer_for(client, upstream, response([candidate(parts)]), tools=[WEATHER])
    message = body["choices"][0]["message"]
    assert message["content"] == "Checking."
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"city": "Oslo"}


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
    ],
)
def test_finish_reasons(client, upstream, reason, finish):
    parts = [] if finish == "content_filter" else [{"text": "partial"}]
    item = candidate(parts, reason)
    if reason == "SAFETY":
        item = {"finishReason": "SAFETY", "index": 0, "safetyRatings": SAFETY_RATINGS}
    body = answer_for(client, upstream, response([item], usage_metadata(3, 0)))
    choice = body["choices"][0]
    assert choice["finish_reason"] == finish
    assert choice["message"]["content"] == (None if finish == "content_filter" else "partial")


def test_blocked_prompt_gives_content_filter_choices(client, upstream):
    payload = {
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": SAFETY_RATINGS},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": "gemini-2.5-flash",
    }
    body = answer_for(client, upstream, payload, n=2)
    assert [(c["index"], c["finish_reason"]) for c in body["choices"]] == [
        (0, "content_filter"),
        (1, "content_filter"),
    ]
    assert body["choices"][0]["message"]["content"] is None
    assert body["usage"] == {"prompt_tokens": 8, "completion_tokens": 0, "total_tokens": 8}


def test_candidates_without_index_field_are_numbered_in_order(client, upstream):
    first, second = candidate([{"text": "a"}]), candidate([{"text": "b"}])
    del first["index"], second["index"]
    body = answer_for(client, upstream, response([first, second], usage_metadata(1, 2)), n=2)
    assert [c["message"]["content"] for c in body["choices"]] == ["a", "b"]


def test_missing_usage_is_estimated(client, upstream):
    body = answer_for(client, upstream, response([candidate([{"text": "Hello there friend"}])]))
    assert body["usage"]["completion_tokens"] > 0 and body["usage"]["prompt_tokens"] > 0


def test_missing_usage_counts_declared_tools_and_tool_calls_as_the_mock_does(client, upstream):
    parts = [
        {"text": "Checking."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
    ]
    body = answer_for(client, upstream, response([candidate(parts)]), tools=[WEATHER])
    model = "gemini-2.5-flash"
    prompt = count_messages([{"role": "user", "content": "Hi"}], model)
    prompt += count_functions([WEATHER["function"]], model)
    completion = count_text("Checking.", model) + count_text("get_weather", model)
    completion += count_text('{"city":"Oslo"}', model)
    assert body["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


@pytest.mark.parametrize(
    "payload", [{"candidates": []}, b"<html>oops</html>", [1, 2]], ids=["empty", "html", "list"]
)
def test_unusable_answers_are_bad_gateway(client, upstream, payload):
    if isinstance(payload, bytes):
        upstream.post(URL, body=payload, status=200)
    else:
        upstream.post(URL, json=payload)
    answer = chat(client)
    assert answer.status_code == 502
    assert answer.json["error"]["type"] == "server_error"


def test_legacy_completion_goes_through_chat(client, upstream):
    upstream.post(URL, json=response([candidate([{"text": "Once upon"}], "MAX_TOKENS")]))
    answer = client.post(
        "/v1/completions", json={"model": "gpt-4o", "prompt": "Tell a story", "max_tokens": 2}
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["choices"][0]["text"] == "Once upon"
    assert answer.json["choices"][0]["finish_reason"] == "length"
    sent = json.loads(upstream.calls[0].request.body)
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "Tell a story"}]}]
    assert sent["generationConfig"]["maxOutputTokens"] == 2


def test_legacy_usage_without_usage_metadata_counts_the_prompt_as_its_own_text(client, upstream):
    upstream.post(URL, json=response([candidate([{"text": "Once upon"}], "MAX_TOKENS")]))
    answer = client.post(
        "/v1/completions", json={"model": "gpt-4o", "prompt": "Tell a story", "max_tokens": 2}
    )
    assert answer.status_code == 200, answer.json
    prompt = count_text("Tell a story", "gemini-2.5-flash")
    framed = count_messages([{"role": "user", "content": "Tell a story"}], "gemini-2.5-flash")
    assert prompt < framed
    completion = count_text("Once upon", "gemini-2.5-flash")
    assert answer.json["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def test_legacy_usage_keeps_the_usage_gemini_reports(client, upstream):
    payload = response([candidate([{"text": "Once upon"}], "MAX_TOKENS")], usage_metadata(9, 2))
    upstream.post(URL, json=payload)
    answer = client.post(
        "/v1/completions", json={"model": "gpt-4o", "prompt": "Tell a story", "max_tokens": 2}
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["usage"] == {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
