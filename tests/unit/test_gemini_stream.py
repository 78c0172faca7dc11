"""Gemini backend: `streamGenerateContent?alt=sse` events as chat.completion.chunks."""

from __future__ import annotations

import json

import pytest

from app.backends.base import Call
from app.backends.gemini.stream import StreamTranslator
from app.backends.gemini.tools import ThoughtSignatures
from app.errors import RateLimitError, UpstreamError
from app.routing import Route
from app.tokens import count_functions, count_messages, count_text
from tests.fakes.gemini import candidate, error_body, response, sse, usage_metadata
from tests.support.openai_checks import check_chat_sse, check_chat_stream, check_error_sse
from tests.unit.gemini_helpers import STREAM_URL, chat, gemini_client

HI = [{"role": "user", "content": "Hi"}]
TEXT_EVENTS = sse(
    response([candidate([{"text": "Héllo "}], None)], usage_metadata(5, 1)),
    response([candidate([{"text": "Thinking…", "thought": True}], None)]),
    response([candidate([{"text": "wörld ✓ "}], None)], usage_metadata(5, 3)),
    response([candidate([{"text": "🌍"}], "STOP")], usage_metadata(5, 4, thoughts=2)),
)
CALL = {"functionCall": {"name": "lookup", "args": {"q": "ü"}}}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def make_call(**body) -> Call:
    body = {"model": "gpt-4o", "messages": HI, "stream": True, **body}
    return Call(body, Route("gpt-4o", "gemini", "gemini-2.5-flash"))


def translate(raw: bytes, size: int, **body) -> list[dict]:
    """Chunks for `raw` delivered in reads of `size` bytes."""
    pieces = [raw[i : i + size] for i in range(0, len(raw), size)]
    return list(StreamTranslator(make_call(**body), ThoughtSignatures(), "gemini").events(pieces))


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 100_000])
def test_text_stream_survives_any_split(size):
    request = {"model": "gpt-4o", "messages": HI, "stream_options": {"include_usage": True}}
    chunks = translate(TEXT_EVENTS, size, **request)
    assembled = check_chat_stream(chunks, request)
    assert assembled["choices"][0]["message"]["content"] == "Héllo wörld ✓ 🌍"
    assert assembled["choices"][0]["finish_reason"] == "stop"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 6,
        "total_tokens": 11,
        "completion_tokens_details": {"reasoning_tokens": 2},
    }


def test_split_between_cr_and_lf_of_the_event_end():
    raw = TEXT_EVENTS
    cut = raw.index(b"\r\n\r\n") + 1
    chunks = list(
        StreamTranslator(make_call(), ThoughtSignatures(), "gemini").events([raw[:cut], raw[cut:]])
    )
    assert check_chat_stream(chunks)["choices"][0]["message"]["content"] == "Héllo wörld ✓ 🌍"


def test_parallel_calls_get_indexes_0_1_2():
    raw = sse(
        response([candidate([{"text": "Looking up."}], None)]),
        response([candidate([CALL, CALL, CALL], None)]),
        response([candidate([], "STOP")], usage_metadata(9, 12)),
    )
    request = {"model": "gpt-4o", "messages": HI, "tools": TOOLS}
    chunks = translate(raw, 4, **request)
    deltas = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    assert [d["index"] for d in deltas] == [0, 1, 2]
    assert all(d["id"].startswith("call_") and d["type"] == "function" for d in deltas)
    assert {d["function"]["arguments"] for d in deltas} == {'{"q":"ü"}'}
    assembled = check_chat_stream(chunks, request)
    assert assembled["choices"][0]["finish_reason"] == "tool_calls"
    assert assembled["choices"][0]["message"]["content"] == "Looking up."


def test_parallel_tool_calls_false_keeps_the_first_call_only():
    raw = sse(
        response([candidate([CALL, CALL], None)]),
        response([candidate([CALL], "STOP")], usage_metadata(9, 12)),
    )
    request = {"model": "gpt-4o", "messages": HI, "tools": TOOLS, "parallel_tool_calls": False}
    assembled = check_chat_stream(translate(raw, 7, **request))
    (choice,) = assembled["choices"]
    assert len(choice["message"]["tool_calls"]) == 1
    assert choice["finish_reason"] == "tool_calls"


def test_calls_in_separate_events_keep_counting():
    raw = sse(response([candidate([CALL], None)]), response([candidate([CALL], "STOP")]))
    chunks = translate(raw, 10, tools=TOOLS)
    indexes = [
        c["choices"][0]["delta"]["tool_calls"][0]["index"]
        for c in chunks
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    assert indexes == [0, 1]


def test_usage_without_usage_metadata_counts_declared_tools_and_tool_calls():
    raw = sse(response([candidate([{"text": "Looking up."}], None)]), response([candidate([CALL])]))
    request = {"messages": HI, "tools": TOOLS, "stream_options": {"include_usage": True}}
    model = "gemini-2.5-flash"
    prompt = count_messages(HI, model) + count_functions([TOOLS[0]["function"]], model)
    completion = count_text("Looking up.", model) + count_text("lookup", model)
    completion += count_text('{"q":"ü"}', model)
    assert translate(raw, 7, **request)[-1]["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def test_several_candidates_stream_side_by_side():
    raw = sse(
        response([candidate([{"text": "A1"}], None, 0), candidate([{"text": "B1"}], None, 1)]),
        response(
            [candidate([{"text": "A2"}], "STOP", 0), candidate([{"text": "B2"}], "MAX_TOKENS", 1)]
        ),
    )
    request = {"model": "gpt-4o", "messages": HI, "n": 2}
    assembled = check_chat_stream(translate(raw, 6, **request), request)
    assert [(c["message"]["content"], c["finish_reason"]) for c in assembled["choices"]] == [
        ("A1A2", "stop"),
        ("B1B2", "length"),
    ]


def test_blocked_prompt_stream_ends_with_content_filter():
    raw = sse(
        {
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {"promptTokenCount": 4},
        }
    )
    request = {"model": "gpt-4o", "messages": HI, "stream_options": {"include_usage": True}}
    chunks = translate(raw, 3, **request)
    assembled = check_chat_stream(chunks, request)
    assert assembled["choices"][0]["finish_reason"] == "content_filter"
    assert chunks[-1]["usage"]["prompt_tokens"] == 4


@pytest.mark.parametrize(
    "tail",
    [b"", b'data: {"candidates": [{"content": {"parts": [{"text": "wo'],
    ids=["ended-without-finish", "cut-mid-event"],
)
def test_cut_stream_raises_after_the_text_so_far(tail):
    raw = sse(response([candidate([{"text": "Hel"}], None)])) + tail
    received = []
    with pytest.raises(UpstreamError) as info:
        for chunk in StreamTranslator(make_call(), ThoughtSignatures(), "gemini").events([raw]):
            received.append(chunk)
    assert received[-1]["choices"][0]["delta"] == {"content": "Hel"}
    assert info.value.status == 502


@pytest.mark.parametrize(
    ("error", "kind", "status"),
    [
        (error_body(429, "RESOURCE_EXHAUSTED", "Quota exceeded."), RateLimitError, 429),
        (error_body(500, "INTERNAL", "An internal error has occurred."), UpstreamError, 502),
    ],
)
def test_error_event_mid_stream_raises_the_mapped_error(error, kind, status):
    raw = sse(response([candidate([{"text": "Hel"}], None)]), error)
    with pytest.raises(kind) as info:
        list(StreamTranslator(make_call(), ThoughtSignatures(), "gemini").events([raw]))
    assert info.value.status == status
    assert info.value.message == error["error"]["message"]


def test_malformed_event_is_an_upstream_error():
    with pytest.raises(UpstreamError):
        list(
            StreamTranslator(make_call(), ThoughtSignatures(), "gemini").events(
                [b"data: {nope\n\n"]
            )
        )


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


def events(answer) -> list[str]:
    body = answer.get_data(as_text=True)
    return [block.removeprefix("data: ") for block in body.split("\n\n") if block]


def test_gateway_relays_a_stream(client, upstream):
    upstream.post(STREAM_URL, body=TEXT_EVENTS, content_type="text/event-stream")
    request = {"model": "gpt-4o", "messages": HI, "stream": True}
    answer = chat(client, **request)
    assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
    assert check_chat_sse(events(answer), request)["choices"][0]["message"]["content"] == (
        "Héllo wörld ✓ 🌍"
    )
    assert json.loads(upstream.calls[0].request.body)["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]}
    ]


def test_gateway_ends_a_failed_stream_with_an_error_event(client, upstream):
    body = sse(
        response([candidate([{"text": "Hel"}], None)]),
        error_body(503, "UNAVAILABLE", "Overloaded."),
    )
    upstream.post(STREAM_URL, body=body, content_type="text/event-stream")
    answer = chat(client, stream=True)
    error = check_error_sse(events(answer))
    assert (error.type, error.message) == ("server_error", "Overloaded.")


def test_error_before_the_stream_is_a_json_error(client, upstream):
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}
    upstream.post(
        STREAM_URL, json=error_body(429, "RESOURCE_EXHAUSTED", "Slow down.", [retry]), status=429
    )
    answer = chat(client, stream=True)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "12"
    assert answer.json["error"]["code"] == "rate_limit_exceeded"


def test_closing_the_stream_closes_the_upstream_response(monkeypatch, upstream):
    from app.backends.gemini import GeminiBackend

    monkeypatch.setenv("GEMINI_CLOSE_KEY", "k")
    backend = GeminiBackend(
        "gemini", {"api_key_env": "GEMINI_CLOSE_KEY", "base_url": "https://gemini.test/v1beta"}, {}
    )
    upstream.post(STREAM_URL, body=TEXT_EVENTS, content_type="text/event-stream")
    stream = backend.chat(make_call())
    first = next(iter(stream.events))
    assert first["choices"][0]["delta"]["role"] == "assistant"
    upstream_response = stream.close.__self__
    assert not upstream_response.raw.closed
    stream.close()
    assert upstream_response.raw.closed
    backend.close()


@pytest.mark.parametrize("reported", [True, False])
def test_legacy_stream_usage_is_gemini_s_or_the_prompt_s_own_count(client, upstream, reported):
    last = response([candidate([{"text": " upon"}], "STOP")], usage_metadata(9, 2))
    if not reported:
        del last["usageMetadata"]
    body = sse(response([candidate([{"text": "Once"}], None)]), last)
    upstream.post(STREAM_URL, body=body, content_type="text/event-stream")
    request = {"model": "gpt-4o", "prompt": "Tell a story", "stream": True}
    answer = client.post(
        "/v1/completions", json={**request, "stream_options": {"include_usage": True}}
    )
    assert answer.status_code == 200
    usage = json.loads(events(answer)[-2])["usage"]
    if reported:
        assert usage == {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    else:
        prompt = count_text("Tell a story", "gemini-2.5-flash")
        completion = count_text("Once upon", "gemini-2.5-flash")
        assert usage == {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
