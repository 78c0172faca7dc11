"""Quirks of OpenAI-compatible servers (tests/fakes/quirky_upstream.py) behind real gunicorn,
as the official SDK and LangChain see them: what the spec promises, whatever the upstream."""

from __future__ import annotations

import openai
import pytest
from langchain_openai import ChatOpenAI
from openai.types.chat import ChatCompletionChunk

from tests.fakes.quirky_upstream import CONTEXT_ERROR, MODELS, TEXT, USAGE
from tests.support.servers import gateway_in_front

pytestmark = pytest.mark.slow

KEY = "sk-quirks-client"
HI = [{"role": "user", "content": "Say hi"}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """The gateway with every model of the quirky upstream under `quirky/`, discovered."""

    def models(base_url: str) -> dict:
        backend = {"type": "openai", "base_url": base_url, "discover_models": True}
        return {
            "backends": {"quirky": backend},
            "models": [{"id": "quirky/*", "backend": "quirky", "strip_prefix": "quirky/"}],
        }

    folder = tmp_path_factory.mktemp("quirks")
    with gateway_in_front("tests.fakes.quirky_upstream:app", folder, models, KEY) as server:
        yield server


@pytest.fixture
def sdk(gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0)


def with_usage(sdk: openai.OpenAI, model: str) -> list[ChatCompletionChunk]:
    """The chunks of a chat stream from `model` that asked for usage."""
    options = {"include_usage": True}
    return list(
        sdk.chat.completions.create(model=model, messages=HI, stream=True, stream_options=options)
    )


def test_a_stream_without_done_is_a_whole_answer(sdk):
    chunks = with_usage(sdk, "quirky/no-done")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "".join(TEXT)
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    with sdk.chat.completions.stream(model="quirky/no-done", messages=HI) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].finish_reason == "stop"


def test_langchain_reads_a_stream_without_done(gateway):
    llm = ChatOpenAI(
        model="quirky/no-done", base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0
    )
    assert "".join(str(piece.content) for piece in llm.stream("Say hi")) == "".join(TEXT)


def test_an_error_line_midway_raises_in_the_sdk(sdk):
    stream = sdk.chat.completions.create(model="quirky/error-line", messages=HI, stream=True)
    with pytest.raises(openai.APIError, match="KV cache is full"):
        for _ in stream:
            pass


def test_an_error_line_first_is_a_bad_request(sdk):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="quirky/error-line-first", messages=HI, stream=True)
    assert info.value.body["message"] == CONTEXT_ERROR
    assert info.value.type == "invalid_request_error" and info.value.code is None


def test_usage_from_x_groq_reaches_the_client(sdk):
    chunks = with_usage(sdk, "quirky/groq-usage")
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    # A CompletionUsage: Groq's timings (`queue_time`) stay in its own `x_groq`.
    counts = {k: USAGE[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    assert chunks[-1].usage.model_dump(exclude_none=True) == counts


def test_fractional_created_times_arrive_as_integers(sdk, gateway):
    answer = sdk.chat.completions.create(model="quirky/fractional", messages=HI)
    assert answer.created == 1700000000 and type(answer.created) is int
    chunks = list(sdk.chat.completions.create(model="quirky/fractional", messages=HI, stream=True))
    assert {type(c.created) for c in chunks} == {int}
    # LangChain dumps each SDK object: a float would warn (an error under this test run).
    llm = ChatOpenAI(
        model="quirky/fractional", base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0
    )
    assert llm.invoke("Say hi").content == "".join(TEXT)
    assert "".join(str(piece.content) for piece in llm.stream("Say hi")) == "".join(TEXT)


def test_a_bare_array_model_list_is_discovered(sdk):
    ids = {model.id for model in sdk.models.list()}
    assert {f"quirky/{model}" for model in MODELS} <= ids


def test_choices_without_delta_reach_the_sdk_and_langchain_with_one(sdk, gateway):
    chunks = list(sdk.chat.completions.create(model="quirky/no-delta", messages=HI, stream=True))
    # The usual loop over a stream reads `delta` of every choice: a missing one raised.
    text = "".join(choice.delta.content or "" for chunk in chunks for choice in chunk.choices)
    assert text == "".join(TEXT)
    assert [c.choices[0].finish_reason for c in chunks][-2:] == ["stop", None]
    with sdk.chat.completions.stream(model="quirky/no-delta", messages=HI) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "".join(TEXT)
    assert final.choices[0].finish_reason == "stop"
    llm = ChatOpenAI(
        model="quirky/no-delta", base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0
    )
    pieces = list(llm.stream("Say hi"))
    assert "".join(str(piece.content) for piece in pieces) == "".join(TEXT)
    assert any(p.response_metadata.get("finish_reason") == "stop" for p in pieces)


def test_a_padded_done_ends_the_stream_cleanly(sdk):
    chunks = list(sdk.chat.completions.create(model="quirky/padded-done", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "".join(TEXT)
    with sdk.chat.completions.stream(model="quirky/padded-done", messages=HI) as stream:
        assert stream.get_final_completion().choices[0].finish_reason == "stop"


def test_a_json_error_typed_as_an_event_stream_is_that_error(sdk):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="quirky/json-error", messages=HI, stream=True)
    assert info.value.body["message"] == CONTEXT_ERROR
    assert (info.value.code, info.value.param) == ("context_length_exceeded", "messages")


def test_a_whole_answer_typed_as_an_event_stream_is_replayed(sdk):
    chunks = with_usage(sdk, "quirky/json-answer")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "".join(TEXT)
    assert chunks[-1].usage.total_tokens == USAGE["total_tokens"]
    assert {c.model for c in chunks} == {"quirky/json-answer"}


def test_an_endpoint_the_upstream_does_not_serve_is_not_found(sdk):
    with pytest.raises(openai.NotFoundError) as info:
        sdk.embeddings.create(model="quirky/no-done", input="hi")
    assert info.value.code == "upstream_endpoint_not_found"
    assert "(POST /v1/embeddings)" in info.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        sdk.completions.create(model="quirky/no-done", prompt="hi", stream=True)
