"""Legacy completions answered by a chat model (the mock): choices, limits and streams."""

from __future__ import annotations

import json

import pytest

from app.tokens import count_text, uses_tiktoken
from tests.support.openai_checks import (
    assert_matches_spec,
    check_completion,
    check_completion_sse,
)


def sse_data(data: bytes) -> list[str]:
    """The `data:` payloads of an SSE body, `[DONE]` included."""
    blocks = data.decode().split("\n\n")
    return [b.removeprefix("data: ") for b in blocks if b.startswith("data: ")]


def sse_chunks(data: bytes) -> list[dict]:
    """The chunks of a stream that ends with `[DONE]`."""
    *chunks, done = sse_data(data)
    assert done == "[DONE]"
    return [json.loads(chunk) for chunk in chunks]


def complete(client, **body):
    return client.post("/v1/completions", json={"model": "mock", **body})


# -- conversion through chat (the mock) -------------------------------------------------


def test_string_prompt_becomes_a_text_completion(client):
    response = complete(client, prompt="Say hi", max_tokens=100)
    assert response.status_code == 200
    body = response.json
    check_completion(body, {"model": "mock"})
    assert body["id"].startswith("cmpl-")
    assert body["object"] == "text_completion"
    assert body["model"] == "mock"
    (choice,) = body["choices"]
    assert choice["text"].startswith('This is a mock reply to "Say hi"')
    assert choice["finish_reason"] == "stop"
    assert choice["logprobs"] is None
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] > 10


def test_prompt_list_with_n_numbers_choices_prompt_major(client):
    body = complete(client, prompt=["first", "second"], n=2, max_tokens=100).json
    check_completion(body)
    assert [c["index"] for c in body["choices"]] == [0, 1, 2, 3]
    for choice in body["choices"]:
        expected = "first" if choice["index"] < 2 else "second"
        assert f'reply to "{expected}"' in choice["text"]
    # Choices of one prompt are distinct samples.
    assert body["choices"][0]["text"] != body["choices"][1]["text"]


def test_token_prompts_are_decoded(client):
    body = complete(client, prompt=[[9906, 1917], [3923]], max_tokens=100).json
    assert 'reply to "Hello world"' in body["choices"][0]["text"]
    assert body["choices"][1]["index"] == 1


@pytest.mark.skipif(not uses_tiktoken(), reason="needs tiktoken's encodings")
@pytest.mark.parametrize("stream", [False, True])
def test_token_prompts_bill_the_ids_sent(client, stream):
    # "hel" + "lo" decode to "hello" (one token as text); <|endoftext|> is seven as text.
    prompts = [[71, 301], [100257], [100257] * 5]
    usage = {"stream_options": {"include_usage": True}} if stream else {}
    response = complete(client, prompt=prompts, max_tokens=1, stream=stream, **usage)
    answer = sse_chunks(response.data)[-1] if stream else response.json
    assert answer["usage"]["prompt_tokens"] == 2 + 1 + 5


def test_a_null_prompt_bills_one_token_as_openais_default_prompt(client):
    assert complete(client, prompt=None, max_tokens=1).json["usage"]["prompt_tokens"] == 1


def test_undecodable_tokens_are_a_400(client):
    response = complete(client, prompt=[[9906], [10**9]])
    assert response.status_code == 400
    assert response.json["error"]["param"] == "prompt[1]"
    assert "Send the prompt as a string" in response.json["error"]["message"]


def test_echo_prepends_the_prompt(client):
    plain = complete(client, prompt="Echo me", max_tokens=100, seed=1).json
    echoed = complete(client, prompt="Echo me", max_tokens=100, seed=1, echo=True).json
    assert echoed["choices"][0]["text"] == "Echo me" + plain["choices"][0]["text"]


def test_stop_sequence_ends_the_text(client):
    body = complete(client, prompt="Stop here", stop=["mock"], max_tokens=100).json
    assert body["choices"][0]["text"] == "This is a "
    assert body["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_gives_length(client):
    body = complete(client, prompt=["a", "b"], max_tokens=3).json
    assert [c["finish_reason"] for c in body["choices"]] == ["length", "length"]
    assert body["usage"]["completion_tokens"] == 6


def test_max_tokens_defaults_to_16(client):
    body = complete(client, prompt="A long answer please").json
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 16


def test_max_tokens_zero_echoes_without_generating(client):
    body = complete(client, prompt="Only me", max_tokens=0, echo=True, n=2).json
    assert [c["text"] for c in body["choices"]] == ["Only me", "Only me"]
    assert {c["finish_reason"] for c in body["choices"]} == {"length"}
    assert body["usage"]["completion_tokens"] == 0
    assert body["usage"]["prompt_tokens"] == 2


@pytest.mark.parametrize(
    ("extra", "param"),
    [({"suffix": "end"}, "suffix"), ({"logprobs": 0, "echo": True}, "logprobs")],
)
def test_chat_backends_refuse_what_chat_cannot_do(client, extra, param):
    response = complete(client, prompt="x", **extra)
    assert response.status_code == 400
    assert response.json["error"]["param"] == param
    assert "not supported by this model" in response.json["error"]["message"]


def test_too_many_choices_for_chat_is_a_400(client):
    response = complete(client, prompt=["p"] * 17, n=8)
    assert response.status_code == 400
    assert response.json["error"]["param"] == "prompt"


# -- streaming through chat ------------------------------------------------------------


def test_stream_matches_the_complete_answer(client):
    options = {"prompt": ["one", "two"], "n": 2, "max_tokens": 100, "seed": 7}
    whole = complete(client, **options).json
    response = complete(client, stream=True, **options)
    assert response.mimetype == "text/event-stream"
    # The shared check numbers choices by `n` alone; two prompts make 2 * n choices.
    assembled = check_completion_sse(sse_data(response.data))
    assert assembled["object"] == "text_completion"
    assert assembled["id"].startswith("cmpl-")
    assert assembled["choices"] == whole["choices"]
    assert all(len(chunk["choices"]) == 1 for chunk in sse_chunks(response.data))


def test_stream_usage_chunk_and_echo(client):
    response = complete(
        client,
        prompt="Hi",
        echo=True,
        max_tokens=4,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = sse_chunks(response.data)
    assert chunks[0]["choices"][0]["text"] == "Hi"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    last = chunks[-1]
    for chunk in chunks:
        # Streamed choices carry finish_reason null until their last chunk.
        shown = [{**c, "finish_reason": c["finish_reason"] or "stop"} for c in chunk["choices"]]
        assert_matches_spec("CreateCompletionResponse", {**chunk, "choices": shown})
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 4
    assert all("usage" not in chunk for chunk in chunks[:-1])


def test_stream_max_tokens_zero(client):
    response = complete(client, prompt="x", max_tokens=0, stream=True, n=2)
    chunks = sse_chunks(response.data)
    assert [(c["choices"][0]["index"], c["choices"][0]["finish_reason"]) for c in chunks] == [
        (0, "length"),
        (1, "length"),
    ]


# -- usage: the prompt counted as the completions endpoint counts it ---------------------


def prompt_tokens(*prompts: str) -> int:
    """Tokens of the prompts as plain text (no chat framing), as OpenAI bills a completion."""
    return sum(count_text(prompt, "mock") for prompt in prompts)


def test_prompt_tokens_are_the_prompts_own_tokens(client):
    options = {"prompt": "Say this is a test", "max_tokens": 7}
    generated = complete(client, **options).json["usage"]
    nothing = complete(client, **{**options, "max_tokens": 0}).json["usage"]
    expected = prompt_tokens("Say this is a test")
    assert generated["prompt_tokens"] == nothing["prompt_tokens"] == expected
    if uses_tiktoken("mock"):
        # The spec's own example for this prompt.
        assert generated["prompt_tokens"] == 5
    assert generated["completion_tokens"] == 7
    assert generated["total_tokens"] == generated["prompt_tokens"] + 7


@pytest.mark.parametrize("max_tokens", [0, 5])
def test_prompt_tokens_sum_over_prompts_once_each_whatever_n(client, max_tokens):
    prompts = ["Say this is a test", "and another, longer prompt"]
    body = complete(client, prompt=prompts, n=3, max_tokens=max_tokens).json
    assert body["usage"]["prompt_tokens"] == prompt_tokens(*prompts)
    assert body["usage"]["completion_tokens"] == 6 * max_tokens


def test_streamed_usage_matches_the_complete_answer(client):
    options = {"prompt": ["Say this is a test", "two"], "n": 2, "max_tokens": 5, "seed": 3}
    whole = complete(client, **options).json["usage"]
    response = complete(client, stream=True, stream_options={"include_usage": True}, **options)
    streamed = sse_chunks(response.data)[-1]["usage"]
    assert streamed == whole
    assert streamed["prompt_tokens"] == prompt_tokens("Say this is a test", "two")


@pytest.mark.parametrize("top", [0, 2, 5])
def test_logprobs_come_from_the_chat_answer_in_the_legacy_shape(client, top):
    body = complete(client, prompt="Say hi", max_tokens=6, logprobs=top).json
    check_completion(body)
    (choice,) = body["choices"]
    logprobs = choice["logprobs"]
    assert "".join(logprobs["tokens"]) == choice["text"]
    assert len(logprobs["token_logprobs"]) == len(logprobs["tokens"]) == 6
    assert all(value <= 0 for value in logprobs["token_logprobs"])
    # Each token's offset in prompt + text (OpenAI counts from the prompt's start, also without
    # echo), and its alternatives with the token itself the likeliest.
    whole = "Say hi" + choice["text"]
    offsets = [
        whole.index(token, at)
        for token, at in zip(logprobs["tokens"], logprobs["text_offset"], strict=True)
    ]
    assert offsets == logprobs["text_offset"] and offsets[0] == len("Say hi")
    for token, chosen, alternatives in zip(
        logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"], strict=True
    ):
        assert len(alternatives) == top
        if top:
            assert alternatives[token] == chosen == max(alternatives.values())


def test_streamed_logprobs_match_the_complete_answer(client):
    whole = complete(client, prompt="Say hi", max_tokens=8, logprobs=2).json["choices"][0]
    response = complete(client, prompt="Say hi", max_tokens=8, logprobs=2, stream=True)
    check_completion_sse(sse_data(response.data))
    pieces = [c["choices"][0]["logprobs"] for c in sse_chunks(response.data)]
    joined = {key: [v for p in pieces if p for v in p[key]] for key in whole["logprobs"]}
    assert joined == whole["logprobs"]
