"""Gemini backend: `logprobs` / `top_logprobs` as responseLogprobs and logprobsResult."""

from __future__ import annotations

import json

import pytest

from tests.fakes.gemini import candidate, logprobs_result, response, sse, usage_metadata
from tests.fakes.gemini_checks import check_request
from tests.support.openai_checks import (
    check_chat_completion,
    check_chat_sse,
    check_completion,
    check_completion_sse,
    check_error,
)
from tests.unit.gemini_helpers import STREAM_URL, URL, chat, gemini_client, sent

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


def token(text: str, logprob: float, top: list | None = None) -> dict:
    """A ChatCompletionTokenLogprob."""
    item = {"token": text, "logprob": logprob, "bytes": list(text.encode())}
    return {**item, "top_logprobs": top or []}


def alternative(text: str, logprob: float) -> dict:
    return {"token": text, "logprob": logprob, "bytes": list(text.encode())}


def with_result(item: dict, result: dict) -> dict:
    return {**item, "logprobsResult": result}


def events(answer) -> list[str]:
    body = answer.get_data(as_text=True)
    return [block.removeprefix("data: ") for block in body.split("\n\n") if block]


@pytest.mark.parametrize(
    ("request_", "config"),
    [
        ({"logprobs": True, "top_logprobs": 3}, {"responseLogprobs": True, "logprobs": 3}),
        ({"logprobs": True, "top_logprobs": 0}, {"responseLogprobs": True}),
        ({"logprobs": True}, {"responseLogprobs": True}),
        ({"logprobs": False}, None),
    ],
)
def test_logprobs_are_asked_of_gemini(client, upstream, request_, config):
    upstream.post(URL, json=response([candidate([{"text": "Hi"}])]))
    assert chat(client, **request_).status_code == 200
    body = sent(upstream)
    assert body.get("generationConfig") == config
    check_request(body, "gemini-2.5-flash")


def test_tokens_and_alternatives_become_openai_logprobs(client, upstream):
    text = "Café au lait"
    item = with_result(candidate([{"text": text}]), logprobs_result(text, top=2))
    upstream.post(URL, json=response([item], usage_metadata(3, 3)))
    request = {"model": "gpt-4o", "messages": HI, "logprobs": True, "top_logprobs": 2}
    answer = chat(client, **request)
    assert answer.status_code == 200, answer.json
    check_chat_completion(answer.json, request)
    # The fake leaves out a log probability of 0, as proto3 JSON does: it reads as 0.0.
    assert answer.json["choices"][0]["logprobs"] == {
        "content": [
            token("Café ", 0.0, [alternative("Café ", 0.0), alternative(" alt1", -1.0)]),
            token("au ", -0.5, [alternative("au ", -0.5), alternative(" alt1", -1.5)]),
            token("lait", -1.0, [alternative("lait", -1.0), alternative(" alt1", -2.0)]),
        ],
        "refusal": None,
    }
    assert answer.json["choices"][0]["logprobs"]["content"][0]["bytes"][:5] == [
        67, 97, 102, 195, 169,
    ]  # fmt: skip


def test_alternatives_are_cut_to_top_logprobs_and_infinity_is_very_unlikely(client, upstream):
    result = {
        "chosenCandidates": [{"token": "A", "logProbability": "-Infinity"}, {"token": "B"}],
        "topCandidates": [{"candidates": [{"token": "A"}, {"token": "Z"}, {"token": "Y"}]}],
    }
    item = with_result(candidate([{"text": "AB"}]), result)
    upstream.post(URL, json=response([item]))
    answer = chat(client, logprobs=True, top_logprobs=1)
    assert answer.json["choices"][0]["logprobs"]["content"] == [
        token("A", -9999.0, [alternative("A", 0.0)]),
        token("B", 0.0),
    ]


def test_without_logprobs_asked_the_choice_has_none(monkeypatch, upstream):
    # Even when a models-file default makes Gemini send them.
    client = gemini_client(monkeypatch, generation_config={"responseLogprobs": True})
    item = with_result(candidate([{"text": "Hi"}]), logprobs_result("Hi"))
    upstream.post(URL, json=response([item]))
    assert chat(client).json["choices"][0]["logprobs"] is None


def test_choices_without_content_have_null_logprobs_content(client, upstream):
    call = {"functionCall": {"name": "f", "args": {}}}
    payload = response([{"finishReason": "SAFETY"}, candidate([call], index=1)])
    upstream.post(URL, json=payload)
    upstream.post(URL, json={"promptFeedback": {"blockReason": "SAFETY"}})
    for _ in range(2):
        choices = chat(client, n=2, logprobs=True).json["choices"]
        assert [c["logprobs"] for c in choices] == [{"content": None, "refusal": None}] * 2


@pytest.mark.parametrize(
    "result",
    [
        "tokens",
        {"chosenCandidates": {"token": "a"}},
        {"chosenCandidates": [{"token": 5}]},
        {"chosenCandidates": [{"token": "a", "logProbability": "high"}]},
        {"chosenCandidates": [{"token": "a"}], "topCandidates": [{"candidates": [1]}]},
    ],
)
def test_malformed_logprobs_are_bad_gateway(client, upstream, result):
    upstream.post(URL, json=response([with_result(candidate([{"text": "a"}]), result)]))
    answer = chat(client, logprobs=True, top_logprobs=1)
    assert answer.status_code == 502
    assert check_error(answer.json).code == "upstream_bad_response"


def test_each_stream_chunk_carries_the_logprobs_of_its_text(client, upstream):
    pieces = ["Héllo ", "wörld"]
    body = sse(
        *(
            response([with_result(candidate([{"text": p}], None), logprobs_result(p, top=1))])
            for p in pieces
        ),
        response([candidate([], "STOP")], usage_metadata(1, 2)),
    )
    upstream.post(STREAM_URL, body=body, content_type="text/event-stream")
    request = {"model": "gpt-4o", "messages": HI, "stream": True, "logprobs": True}
    request["top_logprobs"] = 1
    answer = chat(client, **request)
    data = events(answer)
    assert check_chat_sse(data, request)["choices"][0]["message"]["content"] == "Héllo wörld"
    choices = [json.loads(d)["choices"][0] for d in data if d != "[DONE]"]
    content = [c for c in choices if c["delta"].get("content")]
    assert [c["logprobs"] for c in content] == [
        {"content": [token("Héllo ", 0.0, [alternative("Héllo ", 0.0)])], "refusal": None},
        {"content": [token("wörld", 0.0, [alternative("wörld", 0.0)])], "refusal": None},
    ]
    # The role and finish chunks carry no tokens.
    assert [c["logprobs"] for c in choices if c not in content] == [None, None]


def test_legacy_completion_gets_logprobs_through_chat(client, upstream):
    text = "Once upon"
    item = with_result(candidate([{"text": text}], "MAX_TOKENS"), logprobs_result(text, top=2))
    upstream.post(URL, json=response([item]))
    request = {"model": "gpt-4o", "prompt": "Tell", "max_tokens": 2, "logprobs": 2}
    answer = client.post("/v1/completions", json=request)
    assert answer.status_code == 200, answer.json
    check_completion(answer.json, request)
    assert answer.json["choices"][0]["logprobs"] == {
        "tokens": ["Once ", "upon"],
        "token_logprobs": [0.0, -0.5],
        "top_logprobs": [{"Once ": 0.0, " alt1": -1.0}, {"upon": -0.5, " alt1": -1.5}],
        "text_offset": [4, 9],
    }
    assert sent(upstream)["generationConfig"]["logprobs"] == 2


def test_legacy_completion_stream_gets_logprobs_through_chat(client, upstream):
    body = sse(
        response([with_result(candidate([{"text": "Once "}], None), logprobs_result("Once "))]),
        response([with_result(candidate([{"text": "upon"}], "STOP"), logprobs_result("upon"))]),
    )
    upstream.post(STREAM_URL, body=body, content_type="text/event-stream")
    request = {"model": "gpt-4o", "prompt": "Tell", "logprobs": 0, "stream": True}
    answer = client.post("/v1/completions", json=request)
    data = events(answer)
    assembled = check_completion_sse(data, request)
    assert assembled["choices"][0]["text"] == "Once upon"
    chunks = [json.loads(d) for d in data if d != "[DONE]"]
    logprobs = [c["choices"][0]["logprobs"] for c in chunks if c["choices"][0]["text"]]
    assert [(lp["tokens"], lp["text_offset"]) for lp in logprobs] == [
        (["Once "], [4]),
        (["upon"], [9]),
    ]
