"""The SSE relay of the `openai` backend on its own: chunking, line endings, model, usage."""

from __future__ import annotations

import json

import pytest

from app.backends.openai.rewrite import ModelRewriter
from app.backends.openai.stream import DONE, relay
from app.backends.openai.usage import UsageCounter
from app.errors import APIError, UpstreamError
from tests.support.openai_upstream import (
    chunk,
    split_every,
    sse_body,
    sse_payloads,
    stream_chunks,
)

TEXTS = ("Héllo", " wörld ", "😀", " ✓")


def relayed(chunks, model="gw", counter=None):
    """Everything `relay` yields for these upstream reads, as one byte string."""

    def on_error(data: bytes) -> APIError:
        return UpstreamError(f"upstream said {data.decode()}")

    return b"".join(relay("up", chunks, ModelRewriter(model), on_error, counter=counter))


# -- the relay itself -----------------------------------------------------------------------


def expected_body(events, model="gw"):
    return sse_body([{**event, "model": model} for event in events])


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_any_chunking_gives_the_same_events_with_utf8_kept_whole(size):
    events = stream_chunks(*TEXTS)
    body = sse_body(events)
    out = relayed(split_every(body, size))
    assert json.loads(out.split(b"\n\n")[0].removeprefix(b"data: "))["model"] == "gw"
    assert sse_payloads(out) == sse_payloads(expected_body(events))
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in sse_payloads(out)[:-1]) == (
        "".join(TEXTS)
    )


@pytest.mark.parametrize("eol", ["\r\n", "\r", "\n"])
def test_any_line_ending_is_relayed_as_lf_events(eol):
    events = stream_chunks("a", "b")
    out = relayed(split_every(sse_body(events, eol=eol), 3))
    assert out == expected_body(events)


def test_comments_and_event_fields_are_not_relayed():
    body = b": keep-alive\n\nid: 1\nevent: message\n" + sse_body([chunk({"content": "x"})])
    out = relayed([body])
    assert out == expected_body([chunk({"content": "x"})])


def test_each_event_leaves_as_soon_as_its_read_completes():
    reads = []

    def upstream_reads():
        for piece in (
            b'data: {"model":"m","n":1}\n',
            b"\n",
            b'data: {"n":2',
            b"}\n\ndata: [DONE]\n\n",
        ):
            reads.append(piece)
            yield piece

    events = relay("up", upstream_reads(), ModelRewriter("gw"), UpstreamError)
    assert next(events) == b'data: {"model":"gw","n":1}\n\n'
    assert len(reads) == 2  # nothing was read ahead
    assert next(events) == b'data: {"n":2,"model":"gw"}\n\n' + DONE


def test_an_event_that_only_looks_like_an_object_ends_the_stream():
    # Two `model` keys and a trailing comma: not spliced, and no JSON to set `model` in.
    body = b'data: {"model":"a"}\n\ndata: {"model":"a","model":"upstream-id",}\n\n'
    events = relay("up", [body], ModelRewriter("gw"), UpstreamError)
    assert next(events) == b'data: {"model":"gw"}\n\n'
    with pytest.raises(UpstreamError) as caught:
        next(events)
    assert caught.value.code == "upstream_bad_response"


def test_several_events_of_one_read_leave_together():
    body = sse_body(stream_chunks("a"))
    assert list(relay("up", [body], ModelRewriter("gw"), UpstreamError)) == [
        expected_body(stream_chunks("a"))
    ]


@pytest.mark.parametrize(
    "body",
    [
        sse_body(stream_chunks("a")[:-1], done=False),  # ended before its finish chunk
        sse_body(stream_chunks("a"), done=False) + b'data: {"id":"cut',  # cut mid-event
        sse_body(stream_chunks("a"), done=False) + b"data: [DO",  # cut inside [DONE]
        b"",
    ],
)
def test_a_stream_that_ends_early_raises_after_the_complete_events(body):
    out = []
    with pytest.raises(UpstreamError, match="ended the stream before it was complete"):
        for item in relay("up", split_every(body, 10), ModelRewriter("gw"), UpstreamError):
            out.append(item)
    assert b'data: {"id":"cut' not in b"".join(out)


def test_done_without_a_final_blank_line_still_ends_the_stream():
    body = sse_body(stream_chunks("a"))[:-1]
    assert relayed([body]) == expected_body(stream_chunks("a"))


def test_what_follows_done_is_never_relayed_nor_read_without_finish():
    reads = iter([sse_body(stream_chunks("a")), b"data: after\n\n", b"more"])
    assert relayed(reads) == expected_body(stream_chunks("a"))
    assert next(reads) == b"data: after\n\n"  # left to `finish` (UpstreamHTTP.finish)


def test_finish_gets_what_is_left_after_done_instead_of_the_drain():
    left: list[list[bytes]] = []
    reads = iter([sse_body(stream_chunks("a")), b"ping", b"more"])
    events = relay(
        "up", reads, ModelRewriter("gw"), UpstreamError, finish=lambda rest: left.append(list(rest))
    )
    assert b"".join(events) == expected_body(stream_chunks("a"))
    assert left == [[b"ping", b"more"]]


# -- model rewriting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"id":"x","model":"up-1","choices":[]}', b'{"id":"x","model":"gw","choices":[]}'),
        (b'{"model" : "we\\"ird\\\\"}', b'{"model":"gw"}'),
        (
            b'{"choices":[{"delta":{"content":"\\"model\\":\\"x\\""}}],"model":"m"}',
            b'{"choices":[{"delta":{"content":"\\"model\\":\\"x\\""}}],"model":"gw"}',
        ),
        (b'{"choices":[]}', b'{"choices":[],"model":"gw"}'),
        (b"[DONE]", b"[DONE]"),
    ],
)
def test_model_is_rewritten_by_splicing_bytes(data, expected):
    assert ModelRewriter("gw")(data) == expected


def test_a_nested_model_key_before_the_top_level_one_is_handled_exactly():
    data = b'{"meta":{"model":"inner"},"model":"outer","x":"\xc3\xa9"}'
    assert json.loads(ModelRewriter("gw")(data)) == {
        "meta": {"model": "inner"},
        "model": "gw",
        "x": "é",
    }


def test_a_client_model_with_quotes_stays_valid_json():
    assert json.loads(ModelRewriter('a"b')(b'{"model":"m"}')) == {"model": 'a"b'}


# -- usage ------------------------------------------------------------------------------------


def test_usage_counter_reads_legacy_text_tool_calls_and_token_prompts():
    counter = UsageCounter("completion", {"prompt": [[1, 2, 3], [4]]}, "m")
    counter.add(
        json.dumps({"id": "c", "object": "text_completion", "choices": [{"text": "ab"}]}).encode()
    )
    tool = {"index": 0, "function": {"name": "f", "arguments": '{"x":1}'}}
    counter.add(json.dumps({"choices": [{"delta": {"tool_calls": [tool]}}]}).encode())
    chunk_ = counter.usage_chunk("gw")
    assert chunk_["usage"]["prompt_tokens"] == 4
    assert chunk_["usage"]["completion_tokens"] > 0
    assert chunk_["object"] == "text_completion" and chunk_["id"] == "c"
