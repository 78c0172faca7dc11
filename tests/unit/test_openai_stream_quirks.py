"""Streams of OpenAI-compatible servers that stray from OpenAI's: a finished answer without
`[DONE]`, llama.cpp's `error:` lines and usage inside a vendor extension (`x_groq`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.backends.openai.usage import vendor_usage
from app.backends.sse import RawSSEDecoder
from tests.support.openai_checks import check_chat_sse, check_error
from tests.support.openai_upstream import (
    CHAT_URL,
    UPSTREAM,
    StreamGateway,
    chunk,
    sse_body,
    sse_payloads,
    stream_chunks,
)

USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
# Groq's place for a stream's usage: a vendor extension on the finish chunk, with its timings.
GROQ_USAGE = {**USAGE, "queue_time": 0.01, "prompt_time": 0.002, "total_time": 0.03}
# llama.cpp before its fix sent a failure as an `error:` line, then `[DONE]`.
CONTEXT_ERROR = (
    b'error: {"code":400,"message":"the request exceeds the available context size",'
    b'"type":"invalid_request_error"}\n\ndata: [DONE]\n\n'
)


@pytest.fixture
def gateway(monkeypatch) -> StreamGateway:
    return StreamGateway(monkeypatch)


def sse(body: bytes) -> dict[str, Any]:
    """`responses` arguments for an SSE answer."""
    return {"body": body, "content_type": "text/event-stream"}


def relayed(events: list[dict[str, Any]]) -> list[Any]:
    """What the client gets for upstream chunks: each with the client's model, then `[DONE]`."""
    return [{**event, "model": "gw"} for event in events] + ["[DONE]"]


def as_sse(payloads: list[Any]) -> list[str]:
    return [p if isinstance(p, str) else json.dumps(p) for p in payloads]


# -- a finished answer without [DONE] -------------------------------------------------------


@pytest.mark.parametrize(
    "events",
    [
        stream_chunks("Hel", "lo"),  # text-generation-inference before 2.1.1, llama-box
        [*stream_chunks("Hi"), {**chunk({}), "choices": [], "usage": USAGE}],
        [chunk({"role": "assistant", "content": "Hi"}), chunk({}, "length", usage=USAGE)],
    ],
)
def test_a_finished_stream_without_done_ends_with_done(gateway, upstream, events):
    upstream.post(CHAT_URL, **sse(sse_body(events, done=False)))
    response, body, exchange = gateway()
    assert response.status_code == 200
    assert sse_payloads(body) == relayed(events)
    assert exchange.stream_error is None


def test_the_added_done_makes_a_stream_the_sdk_accepts(gateway, upstream):
    upstream.post(CHAT_URL, **sse(sse_body(stream_chunks("Hel", "lo"), done=False)))
    _, body, _ = gateway()
    assembled = check_chat_sse(as_sse(sse_payloads(body)))
    assert assembled["choices"][0]["message"]["content"] == "Hello"


def test_the_usage_chunk_asked_for_comes_before_the_added_done(gateway, upstream):
    upstream.post(CHAT_URL, **sse(sse_body(stream_chunks("one two"), done=False)))
    request = {"stream_options": {"include_usage": True}}
    _, body, exchange = gateway(**request)
    *_, last, done = sse_payloads(body)
    assert done == "[DONE]" and last["choices"] == []
    assert last["usage"]["completion_tokens"] >= 2
    assert exchange.completion_tokens == last["usage"]["completion_tokens"]


def legacy(text: str, finish: str | None = None, index: int = 0) -> dict[str, Any]:
    """A legacy `text_completion` chunk for choice `index`."""
    choice = {"index": index, "text": text, "logprobs": None, "finish_reason": finish}
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "m",
        "choices": [choice],
    }


def test_a_finished_legacy_stream_without_done_ends_with_done(gateway, upstream):
    events = [legacy("Once"), legacy("", "stop")]
    upstream.post(UPSTREAM + "/completions", **sse(sse_body(events, done=False)))
    request = {"model": "gw", "prompt": "Once upon", "stream": True}
    response, body, exchange = gateway("/v1/completions", request)
    assert sse_payloads(body) == relayed(events)
    assert exchange.stream_error is None


@pytest.mark.parametrize(
    "body",
    [
        sse_body(stream_chunks("Hel", "lo")[:-1], done=False),  # no finish_reason yet
        sse_body(stream_chunks("Hel"), done=False) + b'data: {"id":"chatcmpl-up1","cho',
        sse_body(stream_chunks("Hel"), done=False) + b"data: [DO",
    ],
)
def test_an_unfinished_stream_without_done_still_ends_with_an_error(gateway, upstream, body):
    upstream.post(CHAT_URL, **sse(body))
    _, relayed_body, exchange = gateway()
    last = sse_payloads(relayed_body)[-1]
    assert check_error(last).code == "upstream_stream_incomplete"
    assert exchange.stream_error == "server_error"


def of_choice(index: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    """A chat chunk for choice `index`."""
    event = chunk(delta, finish)
    event["choices"][0]["index"] = index
    return event


# Choice 0 finished, choice 1 not yet; then choice 1 finished too.
TWO = [of_choice(0, {"content": "A"}), of_choice(1, {"content": "B"}), of_choice(0, {}, "stop")]
BOTH = [*TWO, of_choice(1, {}, "stop")]


@pytest.mark.parametrize("events", [TWO, BOTH])
def test_with_several_choices_a_finish_chunk_without_done_is_no_end(gateway, upstream, events):
    # Which choices finished is not tracked (that would parse every chunk): with `n` > 1 only
    # the usage chunk, sent after all of them, shows the answer whole.
    upstream.post(CHAT_URL, **sse(sse_body(events, done=False)))
    _, body, exchange = gateway(n=2)
    *chunks, last = sse_payloads(body)
    assert chunks == relayed(events)[:-1]
    assert check_error(last).code == "upstream_stream_incomplete"
    assert exchange.stream_error == "server_error"


def test_n_1_is_one_choice(gateway, upstream):
    events = stream_chunks("Hi")
    upstream.post(CHAT_URL, **sse(sse_body(events, done=False)))
    _, body, exchange = gateway(n=1)
    assert sse_payloads(body) == relayed(events) and exchange.stream_error is None


def test_with_several_choices_a_usage_chunk_without_done_is_the_end(gateway, upstream):
    events = [*BOTH, {**chunk({}), "choices": [], "usage": USAGE}]
    upstream.post(CHAT_URL, **sse(sse_body(events, done=False)))
    _, body, exchange = gateway(n=2, stream_options={"include_usage": True})
    assert sse_payloads(body) == relayed(events)
    assert exchange.stream_error is None


@pytest.mark.parametrize("with_counter", [False, True])
def test_with_several_choices_usage_on_the_last_finish_chunk_is_the_end(
    gateway, upstream, with_counter
):
    # Some servers put the usage on the last finish chunk rather than on a chunk of its own.
    events = [*TWO, {**of_choice(1, {}, "stop"), "usage": USAGE}]
    upstream.post(CHAT_URL, **sse(sse_body(events, done=False)))
    options = {"stream_options": {"include_usage": True}} if with_counter else {}
    _, body, exchange = gateway(n=2, **options)
    assert sse_payloads(body)[-1] == "[DONE]"
    assert exchange.stream_error is None


def test_a_list_of_token_ids_is_one_prompt(gateway, upstream):
    events = [legacy("Once"), legacy("", "stop")]
    upstream.post(UPSTREAM + "/completions", **sse(sse_body(events, done=False)))
    request = {"model": "gw", "prompt": [1, 2], "stream": True}
    _, body, exchange = gateway("/v1/completions", request)
    assert sse_payloads(body) == relayed(events)
    assert exchange.stream_error is None


@pytest.mark.parametrize("prompt", [["Once upon", "Long ago"], [[1, 2], [3]]])
def test_a_legacy_batch_is_several_choices(gateway, upstream, prompt):
    events = [legacy("Once"), legacy(" a time", index=1), legacy("", "stop")]
    upstream.post(UPSTREAM + "/completions", **sse(sse_body(events, done=False)))
    request = {"model": "gw", "prompt": prompt, "stream": True}
    _, body, exchange = gateway("/v1/completions", request)
    assert check_error(sse_payloads(body)[-1]).code == "upstream_stream_incomplete"
    assert exchange.stream_error == "server_error"


# -- llama.cpp's `error:` lines -------------------------------------------------------------


def test_an_error_line_midway_ends_the_stream_with_that_error(gateway, upstream):
    events = stream_chunks("Hel")[:2]
    failure = b'error: {"code":500,"message":"KV cache is full","type":"server_error"}\n\n'
    upstream.post(CHAT_URL, **sse(sse_body(events, done=False) + failure + b"data: [DONE]\n\n"))
    response, body, exchange = gateway()
    *chunks, last = sse_payloads(body)
    assert chunks == [{**event, "model": "gw"} for event in events]
    error = check_error(last)
    assert (error.message, error.type, error.code) == ("KV cache is full", "server_error", None)
    assert exchange.stream_error == "server_error"


def test_an_error_line_first_is_an_error_response(gateway, upstream):
    upstream.post(CHAT_URL, **sse(CONTEXT_ERROR))
    response, body, _ = gateway()
    assert response.status_code == 400
    error = check_error(json.loads(body), 400)
    assert error.message == "the request exceeds the available context size"
    assert (error.type, error.code) == ("invalid_request_error", None)


def test_only_the_openai_relay_reads_error_lines():
    # Elsewhere an `error:` line stays what the SSE spec makes it: a field to ignore.
    assert RawSSEDecoder().feed(CONTEXT_ERROR) == [(b"[DONE]", b"", None)]
    assert RawSSEDecoder(error_field=True).feed(CONTEXT_ERROR)[0].event == b"error"


# -- usage in a vendor extension ------------------------------------------------------------


def groq_stream(*, own_usage_chunk: bool = False) -> list[dict[str, Any]]:
    """Groq's stream: its id in `x_groq` first, its usage there on the finish chunk."""
    events = stream_chunks("Hi", " there")
    events[0] = {**events[0], "x_groq": {"id": "req_1"}}
    events[-1] = {**events[-1], "x_groq": {"id": "req_1", "usage": GROQ_USAGE}}
    if own_usage_chunk:
        events.append({**chunk({}), "choices": [], "usage": USAGE})
    return events


def test_usage_in_a_vendor_extension_is_recorded(gateway, upstream):
    events = groq_stream()
    upstream.post(CHAT_URL, **sse(sse_body(events)))
    _, body, exchange = gateway()
    assert sse_payloads(body) == relayed(events)
    assert (exchange.prompt_tokens, exchange.completion_tokens) == (9, 4)


def test_usage_in_a_vendor_extension_is_the_usage_chunk_asked_for(gateway, upstream):
    events = groq_stream()
    upstream.post(CHAT_URL, **sse(sse_body(events)))
    _, body, exchange = gateway(stream_options={"include_usage": True})
    *chunks, usage, done = sse_payloads(body)
    assert chunks == relayed(events)[:-1] and done == "[DONE]"
    # Only what the spec's CompletionUsage holds: Groq's timings stay in `x_groq`.
    assert usage == {
        "id": "chatcmpl-up1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gw",
        "choices": [],
        "usage": USAGE,
    }
    assert (exchange.prompt_tokens, exchange.completion_tokens) == (9, 4)


@pytest.mark.parametrize(
    "usage",
    [
        {"queue_time": 0.2},
        {"prompt_tokens": 9},
        {"prompt_tokens": True, "completion_tokens": False},
        {"prompt_tokens": "9", "completion_tokens": "4"},
        {"prompt_tokens": 9.0, "completion_tokens": 4.0},
        {"prompt_tokens": -5, "completion_tokens": 4},
    ],
)
def test_a_vendor_usage_without_both_counts_is_no_usage(gateway, upstream, usage):
    events = stream_chunks("one two")
    events[-1] = {**events[-1], "x_vendor": {"id": "v1", "usage": usage}}
    upstream.post(CHAT_URL, **sse(sse_body(events)))
    _, body, exchange = gateway(stream_options={"include_usage": True})
    *chunks, last, done = sse_payloads(body)
    assert chunks == relayed(events)[:-1] and done == "[DONE]"
    # The gateway counts, as for an upstream that reports no usage at all.
    counted = last["usage"]
    assert set(counted) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert counted["completion_tokens"] >= 2
    assert (exchange.prompt_tokens, exchange.completion_tokens) == (
        counted["prompt_tokens"],
        counted["completion_tokens"],
    )


def test_a_vendor_usage_keeps_only_what_a_completion_usage_holds():
    details = {"cached_tokens": 2}
    usage = {"prompt_tokens": 9, "completion_tokens": 4, "queue_time": 0.01}
    usage |= {"prompt_tokens_details": details, "completion_tokens_details": None}
    event = {"x_a": {"usage": {"queue_time": 0.2}}, "x_groq": {"usage": usage}}
    assert vendor_usage(event) == {**USAGE, "prompt_tokens_details": details}
    assert vendor_usage({"x_groq": {"usage": {**usage, "total_tokens": 20}}})["total_tokens"] == 20


def test_a_vendor_usage_does_not_double_the_upstreams_own_usage_chunk(gateway, upstream):
    events = groq_stream(own_usage_chunk=True)
    upstream.post(CHAT_URL, **sse(sse_body(events)))
    _, body, _ = gateway(stream_options={"include_usage": True})
    assert sse_payloads(body) == relayed(events)
