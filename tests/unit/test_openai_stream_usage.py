"""Usage of `openai` streams: recorded for limits, logs and metrics; sent as its own last chunk."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.backends.openai.rewrite import ModelRewriter
from app.backends.openai.stream import relay
from app.backends.openai.usage import UsageCounter
from app.errors import UpstreamError
from app.tokens import count_functions
from tests.support.openai_checks import check_chat_sse
from tests.support.openai_upstream import (
    CHAT_URL,
    StreamGateway,
    chat_body,
    chunk,
    sse_body,
    sse_payloads,
    stream_chunks,
)

USAGE = {"prompt_tokens": 3, "completion_tokens": 5000, "total_tokens": 5003}
CLIENT_KEY = "sk-usage-client-1"


def usage_chunk(usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """The upstream's own final usage chunk."""
    return {**chunk({}), "choices": [], "usage": usage or USAGE}


def relayed_usage(body: bytes, counter: UsageCounter | None = None) -> list[dict[str, Any]]:
    """The usage objects `relay` reports for this upstream body."""
    seen: list[dict[str, Any]] = []
    out = relay(
        "up", [body], ModelRewriter("gw"), UpstreamError, counter=counter, on_usage=seen.append
    )
    b"".join(out)
    return seen


@pytest.fixture
def gateway(monkeypatch) -> StreamGateway:
    """A gateway with one client key limited to 1000 tokens a minute."""
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    return StreamGateway(
        monkeypatch, headers=headers, GATEWAY_API_KEYS=[CLIENT_KEY], RATE_LIMIT_TPM=1000
    )


# -- the relay reports usage ----------------------------------------------------------------


def test_the_upstream_usage_chunk_is_reported():
    assert relayed_usage(sse_body([*stream_chunks("a"), usage_chunk()])) == [USAGE]


def test_null_usage_and_usage_inside_text_are_not_reported():
    events = [
        {**chunk({"content": '{"usage": {"total_tokens": 9}}'}), "usage": None},
        '{"id":"x","usage" : null ,"model":"m","choices":[]}',
        {**chunk({}), "meta": {"usage": {"total_tokens": 1}}},
    ]
    assert relayed_usage(sse_body(events)) == []


def test_a_vendor_usage_is_reported_as_a_completion_usage_or_not_at_all():
    groq = {**chunk({}, "stop"), "x_groq": {"usage": {**USAGE, "queue_time": 0.2}}}
    odd = {**chunk({}, "stop"), "x_vendor": {"usage": {"queue_time": 0.2}}}
    assert relayed_usage(sse_body([groq])) == [USAGE]
    assert relayed_usage(sse_body([odd])) == []


def test_the_counted_usage_is_reported_with_its_chunk():
    counter = UsageCounter("chat", chat_body(), "real-model")
    [usage] = relayed_usage(sse_body(stream_chunks("one two")), counter)
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] >= 2


def test_usage_on_a_content_chunk_is_reported_once_split_off():
    counter = UsageCounter("chat", chat_body(), "real-model")
    events = [*stream_chunks("a")[:-1], chunk({}, "stop", usage=USAGE)]
    assert relayed_usage(sse_body(events), counter) == [USAGE]


def test_the_counted_prompt_includes_the_declared_functions():
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
    plain = UsageCounter("chat", chat_body(), "real-model").usage_chunk("gw")
    with_tool = UsageCounter("chat", chat_body(tools=[tool]), "real-model").usage_chunk("gw")
    assert plain is not None and with_tool is not None
    extra = count_functions([tool["function"]], "real-model")
    assert with_tool["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"] + extra


# -- through the gateway: limits and the request's record -------------------------------------


@pytest.mark.parametrize("include_usage", [False, True])
def test_a_streamed_usage_is_charged_to_the_token_limit(gateway, upstream, include_usage):
    body = sse_body([*stream_chunks("a"), usage_chunk()])
    upstream.post(CHAT_URL, body=body, content_type="text/event-stream")
    options = {"stream_options": {"include_usage": True}} if include_usage else {}
    first, _, _ = gateway(**options)
    assert first.status_code == 200
    second, _, _ = gateway(**options)
    assert second.status_code == 429
    record = gateway.exchanges[0]
    assert (record.prompt_tokens, record.completion_tokens) == (3, 5000)


def test_a_usage_reported_before_the_stream_fails_is_still_recorded(gateway, upstream):
    error = {"error": {"message": "overloaded", "type": "server_error", "code": None}}
    body = sse_body([*stream_chunks("a"), usage_chunk(), error], done=False)
    upstream.post(CHAT_URL, body=body, content_type="text/event-stream")
    response, relayed, _ = gateway(stream_options={"include_usage": True})
    assert sse_payloads(relayed)[-1]["error"]["message"] == "overloaded"
    record = gateway.exchanges[0]
    assert record.stream_error == "server_error"
    assert (record.prompt_tokens, record.completion_tokens) == (3, 5000)
    assert gateway()[0].status_code == 429


def test_the_gateway_counted_usage_is_recorded(gateway, upstream):
    upstream.post(
        CHAT_URL, body=sse_body(stream_chunks("one two")), content_type="text/event-stream"
    )
    response, body, _ = gateway(stream_options={"include_usage": True})
    usage = sse_payloads(body)[-2]["usage"]
    record = gateway.exchanges[0]
    assert (record.prompt_tokens, record.completion_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )


# -- usage on the last content chunk ----------------------------------------------------------


def usage_on_finish(**extra: Any) -> list[dict[str, Any]]:
    """An OpenAI-like stream with `usage: null` on each chunk, but the usage on the finish one."""
    chunks = [{**c, "system_fingerprint": "fp_1", "usage": None} for c in stream_chunks("Hel")]
    chunks[-1] = {**chunks[-1], "usage": USAGE, **extra}
    return chunks


def test_usage_on_the_finish_chunk_becomes_its_own_last_chunk(gateway, upstream):
    events = usage_on_finish()
    upstream.post(CHAT_URL, body=sse_body(events), content_type="text/event-stream")
    request = chat_body(stream=True, stream_options={"include_usage": True})
    _, body, _ = gateway(stream_options={"include_usage": True})
    payloads = sse_payloads(body)
    check_chat_sse([json.dumps(p) if isinstance(p, dict) else p for p in payloads], request)
    *chunks, last, done = payloads
    assert done == "[DONE]"
    assert chunks == [{**e, "model": "gw", "usage": None} for e in events]
    same = {k: events[0][k] for k in ("id", "object", "created", "system_fingerprint")}
    assert last == {**same, "model": "gw", "choices": [], "usage": USAGE}
    assert gateway.exchanges[0].completion_tokens == 5000


def test_without_include_usage_the_finish_chunk_keeps_its_usage(gateway, upstream):
    events = usage_on_finish()
    upstream.post(CHAT_URL, body=sse_body(events), content_type="text/event-stream")
    _, body, _ = gateway()
    assert sse_payloads(body) == [{**e, "model": "gw"} for e in events] + ["[DONE]"]
    assert gateway.exchanges[0].completion_tokens == 5000


def test_usage_on_every_chunk_stays_when_the_client_asked_vllm_for_it():
    options = {"include_usage": True, "continuous_usage_stats": True}
    counter = UsageCounter("chat", chat_body(stream_options=options), "real-model")
    events = [{**c, "usage": USAGE} for c in stream_chunks("a")]
    out = relay("up", [sse_body(events)], ModelRewriter("gw"), UpstreamError, counter=counter)
    assert sse_payloads(b"".join(out)) == [{**e, "model": "gw"} for e in events] + ["[DONE]"]


def test_a_later_usage_chunk_of_the_upstream_is_the_only_usage_chunk(gateway, upstream):
    events = [*usage_on_finish(), {**usage_chunk(), "system_fingerprint": "fp_1"}]
    upstream.post(CHAT_URL, body=sse_body(events), content_type="text/event-stream")
    _, body, _ = gateway(stream_options={"include_usage": True})
    payloads = sse_payloads(body)
    assert [p for p in payloads if isinstance(p, dict) and p.get("usage")] == [
        {**events[-1], "model": "gw"}
    ]
    assert payloads[-2]["choices"] == [] and payloads[-1] == "[DONE]"
