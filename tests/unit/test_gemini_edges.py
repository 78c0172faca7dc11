"""Gemini backend: empty and malformed answers, odd usage and absurdly deep JSON."""

from __future__ import annotations

import pytest

from app.backends.base import Call
from app.backends.gemini.stream import StreamTranslator
from app.backends.gemini.tools import ThoughtSignatures
from app.errors import UpstreamError
from app.routing import Route
from tests.fakes.gemini import candidate, response, sse, usage_metadata
from tests.support.openai_checks import check_chat_completion, check_chat_stream, check_error
from tests.unit.gemini_helpers import OK, STREAM_URL, URL, chat, gemini_client, sent, tool_call

HI = [{"role": "user", "content": "Hi"}]
TEXT = [{"content": {"parts": [{"text": "a"}], "role": "model"}, "finishReason": "STOP"}]
# Answers that break the GenerateContentResponse schema, by where they break it.
MALFORMED = {
    "candidate-null": {"candidates": [None]},
    "candidates-object": {"candidates": {"0": TEXT[0]}},
    "content-string": {"candidates": [{"content": "a", "finishReason": "STOP"}]},
    "parts-string": {"candidates": [{"content": {"parts": "a"}, "finishReason": "STOP"}]},
    "part-null": {"candidates": [{"content": {"parts": [None]}, "finishReason": "STOP"}]},
    "text-null": {"candidates": [{"content": {"parts": [{"text": None}]}, "finishReason": "STOP"}]},
    "text-number": {"candidates": [{"content": {"parts": [{"text": 5}]}, "finishReason": "STOP"}]},
    "call-without-name": {"candidates": [{"content": {"parts": [{"functionCall": {}}]}}]},
    "call-args-list": {
        "candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": [1]}}]}}]
    },
}
for _answer in MALFORMED.values():
    if isinstance(_answer["candidates"], list) and _answer["candidates"][0]:
        # A finished candidate, so a stream of it would end cleanly if it were not refused.
        _answer["candidates"][0]["finishReason"] = "STOP"
DEEP = "[" * 50_000 + "]" * 50_000


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


def translate(raw: bytes, **body) -> list[dict]:
    call = Call(
        {"model": "gpt-4o", "messages": HI, "stream": True, **body}, Route("gpt-4o", "g", "m")
    )
    return list(StreamTranslator(call, ThoughtSignatures(), "gemini").events([raw]))


@pytest.mark.parametrize("reason", ["MAX_TOKENS", "STOP", "MALFORMED_FUNCTION_CALL"])
def test_an_answer_without_text_has_empty_content_as_openai_s(client, upstream, reason):
    # E.g. a thinking model that spent max_completion_tokens on thoughts: OpenAI sends "".
    item = {"content": {"role": "model"}, "finishReason": reason, "index": 0}
    upstream.post(URL, json=response([item], usage_metadata(5, 0, thoughts=16)))
    answer = chat(client, max_completion_tokens=16)
    assert answer.status_code == 200, answer.json
    check_chat_completion(answer.json)
    assert answer.json["choices"][0]["message"]["content"] == ""


def test_filtered_and_tool_call_answers_keep_null_content(client, upstream):
    call = {"functionCall": {"name": "f", "args": {}}}
    upstream.post(URL, json=response([{"finishReason": "SAFETY"}, candidate([call], index=1)]))
    choices = chat(client, n=2).json["choices"]
    assert [c["message"]["content"] for c in choices] == [None, None]
    assert [c["finish_reason"] for c in choices] == ["content_filter", "tool_calls"]


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_answer_is_bad_gateway_not_a_crash(client, upstream, payload):
    upstream.post(URL, json=payload)
    answer = chat(client)
    assert answer.status_code == 502
    assert check_error(answer.json).code == "upstream_bad_response"


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_stream_event_is_an_upstream_error(payload):
    with pytest.raises(UpstreamError):
        translate(sse(payload))


@pytest.mark.parametrize("case", ["candidate-null", "content-string", "text-null"])
def test_malformed_stream_event_first_is_a_json_bad_gateway(client, upstream, case):
    # Before the first chunk an error is still a plain HTTP error, so retries can run.
    upstream.post(STREAM_URL, body=sse(MALFORMED[case]))
    answer = chat(client, stream=True)
    assert answer.status_code == 502
    assert check_error(answer.json).code == "upstream_bad_response"


@pytest.mark.parametrize(
    "extra",
    [
        {"usageMetadata": {"promptTokenCount": None, "candidatesTokenCount": 1}},
        {"usageMetadata": {"promptTokenCount": "5"}},
        {"usageMetadata": [5]},
        {"promptFeedback": "blocked"},
    ],
)
def test_odd_usage_and_feedback_are_counted_or_ignored(client, upstream, extra):
    upstream.post(URL, json={"candidates": TEXT, **extra})
    answer = chat(client)
    assert answer.status_code == 200, answer.json
    check_chat_completion(answer.json)
    usage = answer.json["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] == 1
    chunks = translate(sse({"candidates": TEXT, **extra}), stream_options={"include_usage": True})
    assert chunks[-1]["usage"] == answer.json["usage"]


def test_odd_finish_reason_and_index_do_not_crash(client, upstream):
    item = {**TEXT[0], "finishReason": ["STOP"], "index": -2}
    upstream.post(URL, json={"candidates": [item]})
    choice = chat(client).json["choices"][0]
    assert (choice["index"], choice["finish_reason"]) == (0, "stop")
    assembled = check_chat_stream(translate(sse({"candidates": [item]})))
    assert assembled["choices"][0]["finish_reason"] == "stop"


def test_absurdly_deep_upstream_json_is_bad_gateway(client, upstream):
    upstream.post(URL, body='{"candidates": ' + DEEP + "}")
    assert chat(client).status_code == 502
    with pytest.raises(UpstreamError):
        translate(b'data: {"candidates": ' + DEEP.encode() + b"}\r\n\r\n")


@pytest.mark.parametrize("depth", [70, 990, 50_000])
def test_deep_tool_result_is_sent_as_text(client, upstream, depth):
    upstream.post(URL, json=OK)
    deep = '{"a":' * depth + "1" + "}" * depth
    messages = [
        *HI,
        {"role": "assistant", "content": None, "tool_calls": [tool_call("c1", "f", "{}")]},
        {"role": "tool", "tool_call_id": "c1", "content": deep},
    ]
    assert chat(client, messages=messages).status_code == 200
    part = sent(upstream)["contents"][-1]["parts"][0]
    assert part == {"functionResponse": {"name": "f", "response": {"output": deep}}}


@pytest.mark.parametrize("arguments", ['{"a":' * 70 + "1" + "}" * 70, DEEP])
def test_deep_tool_arguments_are_a_bad_request(client, arguments):
    messages = [
        *HI,
        {"role": "assistant", "content": None, "tool_calls": [tool_call("c1", "f", arguments)]},
    ]
    answer = chat(client, messages=messages)
    assert answer.status_code == 400
    assert check_error(answer.json).param == "messages[1].tool_calls[0].function.arguments"
