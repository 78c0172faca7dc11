"""The Gemini preset end to end: openai SDK → gunicorn gateway → fake Gemini."""

from __future__ import annotations

import base64
import json
import struct

import openai
import pytest
import requests

from tests.e2e.gemini_servers import CLIENT_KEY, WRONG_KEY, start_fake, start_gemini_gateway

pytestmark = pytest.mark.slow

HI = [{"role": "user", "content": "Hi there"}]
REPLY = "Gemini fake reply to: Hi there ✓ café"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"anyOf": [{"type": "string", "enum": ["C", "F"]}, {"type": "null"}]},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
PERSON = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "age"],
            "additionalProperties": False,
        },
    },
}


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    server = start_fake(tmp_path_factory.mktemp("fake_gemini"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, fake):
    server = start_gemini_gateway(tmp_path_factory.mktemp("gemini_gateway"), fake)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway_server(gateway):
    """This module's gateway, for the recording clients of tests/e2e/conftest.py."""
    return gateway


@pytest.fixture
def sdk(make_sdk) -> openai.OpenAI:
    """The recording SDK client (tests/e2e/conftest.py) with this module's gateway key."""
    return make_sdk(CLIENT_KEY)


@pytest.fixture
def plain_sdk(gateway):
    """A client for error cases (their streams end in error events, which the recorder refuses)."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=CLIENT_KEY, max_retries=0)
    yield client
    # An open keep-alive connection would hold up the gateway's graceful shutdown.
    client.close()


def last_upstream(fake) -> dict:
    return requests.get(fake.url + "/_last", timeout=5).json()


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
    stream = sdk.chat.completions.create(
        model="gemini-2.5-flash", messages=messages, tools=[WEATHER, TIME], stream=True
    )
    calls: dict[int, dict] = {}
    for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"name": delta.function.name, "args": ""})
            entry["args"] += delta.function.arguments or ""
    assert calls == {
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
    assert overloaded.value.status_code == 502
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
    stream = plain_sdk.chat.completions.create(
        model="gpt-4", messages=[{"role": "user", "content": f"Hi {marker}"}], stream=True
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received).startswith("Gemini")
