"""The Gemini preset end to end: openai SDK → gunicorn gateway → fake Gemini."""

from __future__ import annotations

import base64
import json
import struct

import openai
import pytest

from tests.e2e.gemini_servers import CLIENT_KEY, WRONG_KEY, start_fake, start_gemini_gateway
from tests.support.provider_e2e import (
    HI,
    PERSON,
    TIME,
    client_fixtures,
    last_upstream,
    server_fixtures,
    streamed_tool_calls,
    text_before_error,
    weather_tool,
)

pytestmark = pytest.mark.slow

REPLY = "Gemini fake reply to: Hi there ✓ café"
WEATHER = weather_tool(
    {
        "city": {"type": "string"},
        "unit": {"anyOf": [{"type": "string", "enum": ["C", "F"]}, {"type": "null"}]},
    },
    additionalProperties=False,
)

fake, gateway = server_fixtures("gemini", start_fake, start_gemini_gateway)
gateway_server, sdk, plain_sdk = client_fixtures(CLIENT_KEY)


def test_sdk_chat(sdk, fake):
    messages = [{"role": "system", "content": "Be brief."}, *HI]
    completion = sdk.chat.completions.create(
        model="gpt-3.5-turbo", messages=messages, temperature=0.3, max_tokens=50, stop=["zzz"]
    )
    assert completion.model == "gpt-3.5-turbo"
    assert completion.choices[0].message.content == REPLY
    assert completion.usage.completion_tokens_details.reasoning_tokens == 3
    upstream = last_upstream(fake)
    assert (upstream["model"], upstream["method"]) == ("gemini-2.5-flash", "generateContent")
    assert upstream["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert upstream["body"]["generationConfig"] == {
        "temperature": 0.3,
        "maxOutputTokens": 50,
        "stopSequences": ["zzz"],
    }


def test_sdk_stream_with_usage(sdk, fake):
    chunks = list(
        sdk.chat.completions.create(
            model="gemini-2.5-pro",
            messages=HI,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 2
    assert {c.model for c in chunks} == {"gemini-2.5-pro"}
    assert last_upstream(fake)["args"] == {"alt": "sse"}


def test_sdk_tool_round_trip(sdk, fake):
    messages = [{"role": "user", "content": "What is the weather?"}]
    first = sdk.chat.completions.create(model="gpt-4", messages=messages, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.id.startswith("call_")
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Paris", "unit": "C"},
    )
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18°C and sunny"},
    ]
    second = sdk.chat.completions.create(model="gpt-4", messages=messages, tools=[WEATHER])
    assert second.choices[0].message.content == (
        'Tool results: get_weather -> {"output": "18\\u00b0C and sunny"}'
    )
    contents = last_upstream(fake)["body"]["contents"]
    assert [turn["role"] for turn in contents] == ["user", "model", "user"]
    # The signature Gemini attached to the call travels back with it.
    assert contents[1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"


def test_sdk_parallel_tool_calls_stream(sdk):
    messages = [{"role": "user", "content": "use all tools"}]
    request = dict(model="gemini-2.5-flash", messages=messages, tools=[WEATHER, TIME])
    assert streamed_tool_calls(sdk, **request) == {
        0: {"name": "get_weather", "args": '{"city":"Paris","unit":"C"}'},
        1: {"name": "get_time", "args": "{}"},
    }


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_json_schema(sdk, fake, stream):
    request = dict(model="gpt-4-turbo", messages=HI, response_format=PERSON)
    if stream:
        chunks = list(sdk.chat.completions.create(**request, stream=True))
        content = "".join(c.choices[0].delta.content or "" for c in chunks)
    else:
        content = sdk.chat.completions.create(**request).choices[0].message.content
    assert json.loads(content) == {"name": "name-value", "age": 42}
    config = last_upstream(fake)["body"]["generationConfig"]
    assert config["responseSchema"] == {
        "type": "OBJECT",
        "properties": {"name": {"type": "STRING"}, "age": {"type": "INTEGER"}},
        "required": ["name", "age"],
        "propertyOrdering": ["name", "age"],
    }


def test_sdk_legacy_completion(sdk):
    completion = sdk.completions.create(model="gpt-3.5-turbo", prompt="Say hi", max_tokens=50)
    assert completion.choices[0].text == "Gemini fake reply to: Say hi ✓ café"


def test_sdk_embeddings(sdk, fake):
    single = sdk.embeddings.create(model="text-embedding-004", input="hello", dimensions=4)
    assert len(single.data[0].embedding) == 4
    # Shortened Gemini vectors are not normalized; OpenAI's always have length 1.
    assert sum(v * v for v in single.data[0].embedding) == pytest.approx(1.0, rel=1e-6)
    assert last_upstream(fake)["method"] == "embedContent"
    raw = sdk.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["a", "b"], encoding_format="base64"
    )
    body = json.loads(raw.text)
    vectors = [struct.unpack("<8f", base64.b64decode(d["embedding"])) for d in body["data"]]
    assert len(vectors) == 2 and vectors[0] != vectors[1]
    upstream = last_upstream(fake)
    assert (upstream["model"], upstream["method"]) == ("gemini-embedding-001", "batchEmbedContents")


def test_upstream_errors(plain_sdk):
    with pytest.raises(openai.RateLimitError) as limited:
        plain_sdk.chat.completions.create(
            model="gpt-4", messages=[{"role": "user", "content": "[ratelimit]"}]
        )
    assert limited.value.response.headers["retry-after"] == "1"
    with pytest.raises(openai.InternalServerError) as overloaded:
        plain_sdk.chat.completions.create(
            model="gpt-4", messages=[{"role": "user", "content": "[unavailable]"}]
        )
    assert overloaded.value.status_code == 503
    with pytest.raises(openai.AuthenticationError) as wrong:
        plain_sdk.chat.completions.create(model="wrong-key", messages=HI)
    assert wrong.value.code == "invalid_api_key"
    assert WRONG_KEY not in wrong.value.message
    with pytest.raises(openai.BadRequestError) as image:
        plain_sdk.chat.completions.create(
            model="gpt-4",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "http://10.0.0.1/a.png"}}
                    ],
                }
            ],
        )
    assert image.value.param == "messages[0].content[0].image_url.url"


@pytest.mark.parametrize("marker", ["[midstream-error]", "[cut]"])
def test_stream_interrupted_upstream(plain_sdk, marker):
    assert text_before_error(plain_sdk, "gpt-4", f"Hi {marker}").startswith("Gemini")


def test_answer_without_text_has_empty_content(sdk):
    messages = [{"role": "user", "content": "Think hard [no-text]"}]
    completion = sdk.chat.completions.create(model="gpt-4", messages=messages, max_tokens=5)
    choice = completion.choices[0]
    assert (choice.message.content, choice.finish_reason) == ("", "length")
    chunks = list(
        sdk.chat.completions.create(model="gpt-4", messages=messages, max_tokens=5, stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ""
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


@pytest.mark.parametrize("stream", [False, True])
def test_sdk_logprobs(sdk, fake, stream):
    request = dict(model="gpt-3.5-turbo", messages=HI, logprobs=True, top_logprobs=2)
    if stream:
        chunks = list(sdk.chat.completions.create(**request, stream=True))
        tokens = [
            t
            for c in chunks
            if c.choices and c.choices[0].logprobs
            for t in c.choices[0].logprobs.content
        ]
    else:
        tokens = sdk.chat.completions.create(**request).choices[0].logprobs.content
    assert "".join(t.token for t in tokens) == REPLY
    assert all(bytes(t.bytes).decode() == t.token and t.logprob <= 0 for t in tokens)
    assert [len(t.top_logprobs) for t in tokens] == [2] * len(tokens)
    assert tokens[0].top_logprobs[0].token == tokens[0].token
    config = last_upstream(fake)["body"]["generationConfig"]
    assert (config["responseLogprobs"], config["logprobs"]) == (True, 2)


@pytest.mark.parametrize(
    ("model", "upstream_model", "thinking"),
    [
        ("gpt-4", "gemini-2.5-pro", {"thinkingBudget": 128}),
        ("gemini-3-pro-preview", "gemini-3-pro-preview", {"thinkingLevel": "low"}),
        ("gemini-3-flash-preview", "gemini-3-flash-preview", {"thinkingLevel": "minimal"}),
    ],
)
def test_reasoning_effort_none_is_sent_as_the_model_takes_it(
    sdk, fake, model, upstream_model, thinking
):
    completion = sdk.chat.completions.create(model=model, messages=HI, reasoning_effort="none")
    assert completion.choices[0].message.content == REPLY
    upstream = last_upstream(fake)
    assert upstream["model"] == upstream_model
    assert upstream["body"]["generationConfig"] == {"thinkingConfig": thinking}


def test_an_empty_user_message_is_answered(sdk, fake):
    messages = [*HI, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": ""}]
    completion = sdk.chat.completions.create(model="gpt-4", messages=messages)
    assert completion.choices[0].finish_reason == "stop"
    assert last_upstream(fake)["body"]["contents"][-1] == {"role": "user", "parts": [{"text": " "}]}
