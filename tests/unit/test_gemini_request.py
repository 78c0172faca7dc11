"""Gemini backend: the exact generateContent request built from each OpenAI request."""

from __future__ import annotations

import pytest

from app import create_app
from tests.fakes.gemini import candidate, gateway_models, response, usage_metadata
from tests.support.openai_checks import check_chat_completion, check_error
from tests.unit.gemini_helpers import BASE, KEY, KEY_ENV, OK, URL, chat, gemini_client, sent


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


@pytest.fixture
def make_client(monkeypatch):
    return lambda **options: gemini_client(monkeypatch, **options)


def test_messages_and_sampling_parameters(client, upstream):
    two = response(
        [candidate([{"text": "a"}], index=0), candidate([{"text": "b"}], index=1)],
        usage_metadata(9, 2),
    )
    upstream.post(URL, json=two)
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Hello"},
        {"role": "user", "content": [{"type": "text", "text": "How are you?"}]},
        {"role": "assistant", "content": "Bien."},
        {"role": "user", "content": "Thanks", "name": "ann"},
    ]
    request = dict(
        model="gpt-4o",
        messages=messages,
        max_tokens=10,
        max_completion_tokens=100,
        temperature=0.5,
        top_p=0.9,
        stop=["END", "STOP"],
        n=2,
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        top_k=40,
        user="u1",
    )
    answer = chat(client, **request)
    assert answer.status_code == 200, answer.json
    check_chat_completion(answer.json, request)
    assert sent(upstream) == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hello"}, {"text": "How are you?"}]},
            {"role": "model", "parts": [{"text": "Bien."}]},
            {"role": "user", "parts": [{"text": "Thanks"}]},
        ],
        "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": "Answer in French."}]},
        "generationConfig": {
            "temperature": 0.5,
            "topP": 0.9,
            "topK": 40,
            "seed": 7,
            "presencePenalty": 0.1,
            "frequencyPenalty": 0.2,
            "maxOutputTokens": 100,
            "stopSequences": ["END", "STOP"],
            "candidateCount": 2,
        },
    }
    call = upstream.calls[0].request
    assert call.headers["x-goog-api-key"] == KEY
    assert call.url == URL and KEY not in call.url


def test_stop_string_and_system_only_prompt(client, upstream):
    upstream.post(URL, json=OK)
    answer = chat(client, messages=[{"role": "system", "content": "Tell a joke."}], stop="\n\n")
    assert answer.status_code == 200
    assert sent(upstream) == {
        "contents": [{"role": "user", "parts": [{"text": "Tell a joke."}]}],
        "generationConfig": {"stopSequences": ["\n\n"]},
    }


@pytest.mark.parametrize(
    ("effort", "budget"), [("none", 0), ("low", 1024), ("high", 24576), ("xhigh", -1)]
)
def test_reasoning_effort_sets_the_thinking_budget(client, upstream, effort, budget):
    upstream.post(URL, json=OK)
    assert chat(client, reasoning_effort=effort).status_code == 200
    assert sent(upstream)["generationConfig"] == {"thinkingConfig": {"thinkingBudget": budget}}


def test_backend_defaults_are_merged_under_the_request(make_client, upstream):
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]
    client = make_client(generation_config={"temperature": 0.1, "topK": 8}, safety_settings=safety)
    upstream.post(URL, json=OK)
    assert chat(client, temperature=0.9).status_code == 200
    body = sent(upstream)
    assert body["generationConfig"] == {"temperature": 0.9, "topK": 8}
    assert body["safetySettings"] == safety


def test_image_and_audio_parts_become_inline_data(client, upstream):
    upstream.post(URL, json=OK)
    image = {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": image},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    ]
    assert chat(client, messages=[{"role": "user", "content": content}]).status_code == 200
    assert sent(upstream)["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "What is this?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
            ],
        }
    ]


@pytest.mark.parametrize(
    ("request_", "param"),
    [
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"tools": [{"type": "custom", "custom": {"name": "grep"}}]}, "tools[0].type"),
    ],
)
def test_unsupported_features_are_refused(client, request_, param):
    answer = chat(client, **request_)
    assert answer.status_code == 400
    assert check_error(answer.json).param == param


def test_more_than_five_stop_sequences_are_refused():
    from app.backends.gemini.request import RequestOptions, generation_config
    from app.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError) as info:
        generation_config({"stop": list("abcdef")}, RequestOptions(), "gemini-2.5-flash")
    assert info.value.param == "stop"


def test_missing_key_fails_without_calling_upstream(monkeypatch, upstream):
    monkeypatch.delenv(KEY_ENV, raising=False)
    models = gateway_models(BASE, KEY_ENV)
    client = create_app({"TESTING": True, "MODELS": models, "GATEWAY_API_KEYS": []}).test_client()
    answer = chat(client)
    assert answer.status_code == 500
    error = check_error(answer.json)
    assert error.code == "upstream_key_missing" and KEY_ENV in error.message
    assert not upstream.calls
