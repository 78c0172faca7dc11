"""The mock backend's answers through the gateway: text, limits, seeds, streams, JSON, logprobs."""

from __future__ import annotations

import json
import math

import pytest

from tests.unit.mock_helpers import GetWeather, Joke, chat, messages_of, stream, tool, user

# --- text ---------------------------------------------------------------------------------


def test_text_answer_echoes_the_last_user_message(client):
    answer = chat(client, messages=[{"role": "system", "content": "be brief"}, *user("Hi there")])
    message = answer["choices"][0]["message"]
    assert message["content"].startswith('This is a mock reply to "Hi there": ')
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["usage"]["completion_tokens"] > 0


def test_content_parts_are_read(client):
    parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": "world"}]
    answer = chat(client, messages=[{"role": "user", "content": parts}])
    assert '"Helloworld"' in answer["choices"][0]["message"]["content"]


def test_same_seed_same_bytes_other_seed_other_text(client):
    body = {"messages": user("tell me something"), "seed": 42, "n": 3}
    first, again = chat(client, **body), chat(client, **body)
    assert messages_of(first) == messages_of(again)
    contents = [m["content"] for m in messages_of(first)]
    assert len(set(contents)) == 3, "choices of one request must differ"
    other = chat(client, **{**body, "seed": 43})
    assert messages_of(other)[0]["content"] != contents[0]


def test_stop_cuts_before_the_first_stop_sequence(client):
    text = "alpha beta STOP gamma END delta"
    answer = chat(client, messages=user(text), stop=["END", "STOP"])
    assert answer["choices"][0]["message"]["content"] == 'This is a mock reply to "alpha beta '
    assert answer["choices"][0]["finish_reason"] == "stop"
    single = chat(client, messages=user(text), stop="gamma")
    assert single["choices"][0]["message"]["content"].endswith("STOP ")


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_token_limit_truncates_with_finish_reason_length(client, field):
    full = chat(client, messages=user("count to ten please"), seed=1)
    cut = chat(client, messages=user("count to ten please"), seed=1, **{field: 4})
    choice = cut["choices"][0]
    assert choice["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 4
    assert full["choices"][0]["message"]["content"].startswith(choice["message"]["content"])


def test_max_completion_tokens_wins_over_max_tokens(client):
    answer = chat(client, messages=user("hello"), max_tokens=50, max_completion_tokens=2)
    assert answer["usage"]["completion_tokens"] == 2


def test_streamed_text_matches_the_answer_and_its_usage(client):
    body = {
        "messages": user("stream this"),
        "n": 2,
        "seed": 5,
        "stream_options": {"include_usage": True},
    }
    answer = chat(client, **body)
    chunks, assembled = stream(client, **body)
    assert messages_of(assembled) == messages_of(answer)
    assert assembled["usage"] == answer["usage"]
    assert chunks[-1]["choices"] == []
    contents = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert len([c for c in contents if c]) > 5, "content arrives in token-sized pieces"


def test_stream_without_include_usage_has_no_usage(client):
    chunks, _ = stream(client, messages=user("hi"))
    assert all("usage" not in chunk for chunk in chunks)


# --- JSON output --------------------------------------------------------------------------


def test_json_object_uses_the_keys_the_messages_name(client):
    messages = [
        {"role": "system", "content": "Answer in JSON with 'setup' and 'punchline' keys."},
        *user('A joke about "cats", please'),
    ]
    answer = chat(client, messages=messages, response_format={"type": "json_object"})
    value = json.loads(answer["choices"][0]["message"]["content"])
    assert list(value) == ["setup", "punchline"]
    assert all(isinstance(v, str) and v for v in value.values())


@pytest.mark.parametrize("stream_it", [False, True])
def test_json_object_needs_the_word_json_in_the_messages(client, stream_it):
    body = {"model": "mock", "messages": user("Tell me a joke"), "stream": stream_it}
    response = client.post(
        "/v1/chat/completions", json={**body, "response_format": {"type": "json_object"}}
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "messages",
        None,
    )
    assert error["message"].startswith("'messages' must contain the word 'json'")


def test_json_schema_output_is_an_instance_filled_from_the_text(client):
    schema = Joke.model_json_schema()
    response_format = {"type": "json_schema", "json_schema": {"name": "joke", "schema": schema}}
    answer = chat(client, messages=user("a joke rated 8"), response_format=response_format)
    joke = Joke.model_validate_json(answer["choices"][0]["message"]["content"])
    assert joke.rating == 8


# --- logprobs -----------------------------------------------------------------------------


def test_logprobs_list_each_token_of_the_content(client):
    body = {"messages": user("Say hi"), "logprobs": True, "top_logprobs": 3, "n": 2}
    answer = chat(client, **body)
    assert answer == chat(client, **body) | {"id": answer["id"], "created": answer["created"]}
    for choice in answer["choices"]:
        tokens = choice["logprobs"]["content"]
        assert choice["logprobs"]["refusal"] is None
        assert "".join(t["token"] for t in tokens) == choice["message"]["content"]
        for token in tokens:
            assert token["bytes"] == list(token["token"].encode())
            assert token["logprob"] <= 0
            top = token["top_logprobs"]
            assert len(top) == 3 and top[0]["token"] == token["token"]
            assert [t["logprob"] for t in top] == sorted((t["logprob"] for t in top), reverse=True)
            assert sum(math.exp(t["logprob"]) for t in top) <= 1.0
    first, second = (c["logprobs"]["content"] for c in answer["choices"])
    assert [t["logprob"] for t in first] != [t["logprob"] for t in second]


def test_logprobs_without_top_logprobs_and_when_not_asked(client):
    tokens = chat(client, messages=user("Say hi"), logprobs=True)["choices"][0]["logprobs"]
    assert all(token["top_logprobs"] == [] for token in tokens["content"])
    for body in ({}, {"logprobs": False}, {"logprobs": None}):
        assert chat(client, messages=user("Say hi"), **body)["choices"][0]["logprobs"] is None


def test_streamed_logprobs_match_the_answer(client):
    body = {"messages": user("Say hi"), "logprobs": True, "top_logprobs": 2}
    chunks, assembled = stream(client, **body)
    streamed = [
        token
        for chunk in chunks
        for choice in chunk["choices"]
        if choice["logprobs"] is not None
        for token in choice["logprobs"]["content"]
    ]
    answer = chat(client, **body)
    assert streamed == answer["choices"][0]["logprobs"]["content"]
    assert "".join(t["token"] for t in streamed) == assembled["choices"][0]["message"]["content"]


def test_a_function_call_has_no_content_logprobs(client):
    answer = chat(
        client,
        messages=user("get weather"),
        tools=[tool(GetWeather)],
        logprobs=True,
    )
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    assert answer["choices"][0]["logprobs"] == {"content": None, "refusal": None}


@pytest.mark.parametrize(("detail", "cost"), [("low", 85), ("high", 765), (None, 765)])
def test_images_count_in_the_prompt_tokens_as_openai_bills_them(client, detail, cost):
    image: dict = {"url": "data:image/png;base64,iVBORw0KGgo="}
    if detail:
        image["detail"] = detail
    text = {"type": "text", "text": "What is in this picture?"}
    plain = chat(client, messages=[{"role": "user", "content": [text]}])
    seen = chat(
        client,
        messages=[{"role": "user", "content": [text, {"type": "image_url", "image_url": image}]}],
    )
    assert seen["usage"]["prompt_tokens"] - plain["usage"]["prompt_tokens"] == cost
