"""Anthropic backend: the exact Messages API request sent for each OpenAI request feature."""

from __future__ import annotations

import hashlib

import pytest
import responses

from tests.fakes.anthropic_wire import gateway_models
from tests.support import anthropic_requests
from tests.support.anthropic_requests import BASE, KEY, sent, user

# The shared fixtures, bound here so that pytest finds them.
config = anthropic_requests.config
upstream = anthropic_requests.upstream


def test_minimal_request_and_headers(client, upstream):
    assert sent(client, upstream) == {
        "model": "claude-3-haiku-20240307",
        "messages": [user("Hello")],
        "max_tokens": 4096,
    }
    headers = upstream.calls[0].request.headers
    assert headers["x-api-key"] == KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert "anthropic-beta" not in headers
    assert "authorization" not in {name.lower() for name in headers}


def test_configured_version_beta_and_default_max_tokens(upstream, config):
    from app import create_app

    options = {"anthropic_version": "2024-01-01", "beta": ["b1", "b2"], "default_max_tokens": 99}
    models = gateway_models(BASE, "TEST_ANTHROPIC_KEY", **options)
    client = create_app({**config, "MODELS": models}).test_client()
    assert sent(client, upstream)["max_tokens"] == 99
    headers = upstream.calls[0].request.headers
    assert headers["anthropic-version"] == "2024-01-01"
    assert headers["anthropic-beta"] == "b1,b2"


def test_provider_model_names_pass_through(client, upstream):
    assert sent(client, upstream, model="claude-sonnet-4-5")["model"] == "claude-sonnet-4-5"


@pytest.mark.parametrize(
    ("limits", "expected"),
    [({"max_tokens": 50}, 50), ({"max_completion_tokens": 70, "max_tokens": 50}, 70)],
)
def test_max_tokens_from_the_client(client, upstream, limits, expected):
    assert sent(client, upstream, **limits)["max_tokens"] == expected


def test_system_and_developer_messages_are_joined_in_order(client, upstream):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "system", "content": "Never use emoji."},
    ]
    payload = sent(client, upstream, messages=messages)
    assert payload["system"] == "Be brief.\n\nAnswer in French.\n\nNever use emoji."
    assert payload["messages"] == [user("Hi")]


def test_consecutive_same_role_messages_are_merged(client, upstream):
    messages = [
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "three"},
        {"role": "assistant", "content": [{"type": "text", "text": "four"}]},
        {"role": "user", "content": "five"},
    ]
    assert sent(client, upstream, messages=messages)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": t} for t in ("one", "two")]},
        {"role": "assistant", "content": [{"type": "text", "text": t} for t in ("three", "four")]},
        user("five"),
    ]


def test_final_assistant_message_is_a_prefill_without_trailing_space(client, upstream):
    messages = [{"role": "user", "content": "Count"}, {"role": "assistant", "content": "1, 2, "}]
    assert sent(client, upstream, messages=messages)["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "1, 2,"}],
    }


def test_images_from_data_urls_and_web_urls(client, upstream):
    content = [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
    ]
    payload = sent(client, upstream, messages=[{"role": "user", "content": content}])
    assert payload["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_pdf_files_become_documents(client, upstream):
    pdf = {
        "type": "file",
        "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQ="},
    }
    payload = sent(client, upstream, messages=[{"role": "user", "content": [pdf]}])
    assert payload["messages"][0]["content"] == [
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="},
        }
    ]


def test_sampling_options_stop_and_user(client, upstream):
    payload = sent(
        client, upstream, temperature=0.3, top_p=0.9, top_k=40, stop=["END", "STOP"], user="u-42"
    )
    assert payload["temperature"] == 0.3
    assert "top_p" not in payload  # temperature wins: test_anthropic_sampling.py
    assert payload["top_k"] == 40
    assert payload["stop_sequences"] == ["END", "STOP"]
    assert payload["metadata"] == {"user_id": hashlib.sha256(b"u-42").hexdigest()[:32]}
    assert sent(client, upstream, stop="END")["stop_sequences"] == ["END"]


@pytest.mark.parametrize(("given", "expected"), [(0, 0), (1, 1), (1.5, 1), (2, 1)])
def test_temperature_above_one_is_clamped(client, upstream, given, expected):
    assert sent(client, upstream, temperature=given)["temperature"] == expected


def test_unused_openai_options_are_not_sent(client, upstream):
    payload = sent(client, upstream, seed=1, presence_penalty=0.5, stream=False, n=1, store=False)
    assert set(payload) == {"model", "messages", "max_tokens"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"messages": [{"role": "system", "content": " "}]}, "messages"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url.url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "f", "arguments": "{not json"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
    ],
)
def test_requests_the_backend_cannot_serve_are_400(client, body, param):
    refused(client, body, param)


def refused(client, body: dict, param: str) -> None:
    """The gateway answers 400 naming `param`, and nothing reaches the upstream."""
    request = {"model": "claude-3-haiku", "messages": [{"role": "user", "content": "x"}], **body}
    with responses.RequestsMock():
        response = client.post("/v1/chat/completions", json=request)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_list_models(app):
    from app import gateway

    page = {
        "data": [
            {
                "type": "model",
                "id": "claude-sonnet-4-5-20250929",
                "display_name": "Claude Sonnet 4.5",
                "created_at": "2025-09-29T00:00:00Z",
            }
        ],
        "has_more": False,
        "first_id": "claude-sonnet-4-5-20250929",
        "last_id": "claude-sonnet-4-5-20250929",
    }
    with app.app_context(), responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{BASE}/v1/models", json=page)
        listed = gateway.backends()["claude"].list_models()
        assert mock.calls[0].request.headers["x-api-key"] == KEY
    assert listed == [
        {
            "id": "claude-sonnet-4-5-20250929",
            "object": "model",
            "created": 1759104000,
            "owned_by": "anthropic",
        }
    ]


@pytest.mark.parametrize("field", ["user", "safety_identifier"])
def test_the_end_user_id_is_sent_as_an_opaque_hash(client, upstream, field):
    user_id = sent(client, upstream, **{field: "alice@example.com"})["metadata"]["user_id"]
    assert user_id == hashlib.sha256(b"alice@example.com").hexdigest()[:32]
    assert "alice" not in user_id
    # Stable per user, distinct between users.
    assert sent(client, upstream, **{field: "alice@example.com"})["metadata"]["user_id"] == user_id
    assert sent(client, upstream, **{field: "bob@example.com"})["metadata"]["user_id"] != user_id
