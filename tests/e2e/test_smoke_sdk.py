"""Smoke test: the official openai SDK against the Procfile's gunicorn."""

import openai
import pytest

pytestmark = pytest.mark.slow


def test_sdk_chat_roundtrip(gateway_server):
    client = openai.OpenAI(base_url=gateway_server.url + "/v1", api_key="sk-test-client")
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Say hi"}]
    )
    assert completion.choices[0].message.content.startswith("This is a mock reply")
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Say hi"}], stream=True
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_sdk_rejects_wrong_key(gateway_server):
    client = openai.OpenAI(base_url=gateway_server.url + "/v1", api_key="sk-wrong")
    with pytest.raises(openai.AuthenticationError) as info:
        client.models.list()
    assert info.value.code == "invalid_api_key"
