"""Per-key token limits in this process: TPM estimates, settlement after responses, 429s."""

from __future__ import annotations

import re

import pytest

from app import tokens
from app.backends import shaping
from app.errors import UpstreamError
from app.ratelimit import estimate
from tests.support.openai_checks import check_error
from tests.unit import ratelimit_helpers
from tests.unit.keys_helpers import CHAT, ENDPOINTS, post
from tests.unit.ratelimit_helpers import BOTH_KEY, CHAT_URL, TPM, TPM_KEY, trio

# Chat tokens are counted the way the mock backend reports its prompt usage.
ESTIMATE = tokens.count_messages(CHAT["messages"], "mock")

config = ratelimit_helpers.config
clock = ratelimit_helpers.clock


def test_tpm_charges_the_prompt_estimate_then_the_real_usage(client, clock):
    first = post(client, CHAT_URL, CHAT, TPM_KEY)
    usage = first.get_json()["usage"]
    assert usage["prompt_tokens"] == ESTIMATE
    assert trio(first, "tokens") == (str(TPM), str(TPM - ESTIMATE), "1m0s")
    # The completion was charged when the response ended.
    second = post(client, CHAT_URL, CHAT, TPM_KEY)
    assert second.headers["x-ratelimit-remaining-tokens"] == str(
        TPM - usage["total_tokens"] - ESTIMATE
    )
    assert trio(second, "requests") == (None, None, None)


def test_fewer_tokens_than_estimated_are_given_back(app, client, clock, monkeypatch):
    backend = app.extensions["gateway.backends"]["mock"]
    answer = backend.chat

    def frugal(call):
        result = answer(call)
        result["usage"] = shaping.usage(1, 1)
        return result

    monkeypatch.setattr(backend, "chat", frugal)
    big = {**CHAT, "messages": [{"role": "user", "content": "word " * 200}]}
    estimate = tokens.count_messages(big["messages"], "mock")
    first = post(client, CHAT_URL, big, TPM_KEY)
    assert first.headers["x-ratelimit-remaining-tokens"] == str(TPM - estimate)
    second = post(client, CHAT_URL, CHAT, TPM_KEY)
    assert second.headers["x-ratelimit-remaining-tokens"] == str(TPM - 2 - ESTIMATE)


def test_more_tokens_than_the_limit_refuse_the_next_request(app, client, clock, monkeypatch):
    backend = app.extensions["gateway.backends"]["mock"]
    answer = backend.chat

    def lavish(call):
        result = answer(call)
        result["usage"] = shaping.usage(ESTIMATE, TPM)
        return result

    monkeypatch.setattr(backend, "chat", lavish)
    assert post(client, CHAT_URL, CHAT, TPM_KEY).status_code == 200
    refused = post(client, CHAT_URL, CHAT, TPM_KEY)
    assert refused.status_code == 429
    error = check_error(refused.get_json(), 429)
    assert (error.type, error.code) == ("tokens", "rate_limit_exceeded")
    assert error.message == (
        f"Rate limit reached for mock on tokens per min (TPM): Limit {TPM}, "
        f"Used {ESTIMATE + TPM}, Requested {ESTIMATE}. Please try again in 1m0s."
    )
    assert trio(refused, "tokens") == (str(TPM), "0", "1m0s")
    assert refused.headers["Retry-After"] == "60"


@pytest.mark.parametrize("include_usage", [True, False])
def test_streams_are_settled_when_they_end(client, clock, include_usage):
    body = {**CHAT, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    response = client.post(CHAT_URL, json=body, headers={"Authorization": f"Bearer {TPM_KEY}"})
    assert response.headers["x-ratelimit-remaining-tokens"] == str(TPM - ESTIMATE)
    text = response.get_data(as_text=True)
    # Not settled before the stream has ended (the server closes it).
    middle = post(client, CHAT_URL, CHAT, TPM_KEY)
    assert middle.headers["x-ratelimit-remaining-tokens"] == str(TPM - 2 * ESTIMATE)
    response.close()
    after = post(client, CHAT_URL, CHAT, TPM_KEY)
    if include_usage:
        streamed = int(re.search(r'"total_tokens":(\d+)', text).group(1))
        assert streamed > ESTIMATE
    else:
        streamed = ESTIMATE  # without usage the estimate stands
    charged = streamed + middle.get_json()["usage"]["total_tokens"] + ESTIMATE
    assert after.headers["x-ratelimit-remaining-tokens"] == str(TPM - charged)


def test_a_failed_request_gives_its_tokens_back(app, client, clock, monkeypatch):
    def down(call):
        raise UpstreamError("upstream broke", status=502)

    monkeypatch.setattr(app.extensions["gateway.backends"]["mock"], "chat", down)
    failed = post(client, CHAT_URL, CHAT, BOTH_KEY)
    assert failed.status_code == 502
    assert trio(failed, "tokens") == (str(TPM), str(TPM - ESTIMATE), "1m0s")
    monkeypatch.undo()
    after = post(client, CHAT_URL, CHAT, BOTH_KEY)
    assert trio(after, "tokens") == (str(TPM), str(TPM - ESTIMATE), "1m0s")
    assert trio(after, "requests") == ("2", "0", "1m0s")


def test_a_request_larger_than_the_limit_is_refused_without_retry_after(client, clock):
    big = {**CHAT, "messages": [{"role": "user", "content": "word " * (TPM + 10)}]}
    cost = tokens.count_messages(big["messages"], "mock")
    refused = post(client, CHAT_URL, big, TPM_KEY)
    assert refused.status_code == 429
    error = check_error(refused.get_json(), 429)
    assert error.type == "tokens"
    assert error.message == (
        f"Request too large for mock on tokens per min (TPM): Limit {TPM}, Requested {cost}. "
        "The input or output tokens must be reduced in order to run successfully."
    )
    assert "Retry-After" not in refused.headers
    assert trio(refused, "tokens") == (str(TPM), str(TPM), "1m0s")


@pytest.mark.parametrize(("path", "body"), ENDPOINTS[1:])
def test_completions_and_embeddings_count_their_inputs(client, clock, path, body):
    many = {**body, body_field(body): ["one two three", "four five"]}
    response = post(client, path, many, TPM_KEY)
    assert response.status_code == 200
    model = body["model"]
    charged = tokens.count_text("one two three", model) + tokens.count_text("four five", model)
    assert response.headers["x-ratelimit-remaining-tokens"] == str(TPM - charged)


def body_field(body: dict) -> str:
    """The field that holds a completion's or embedding's text."""
    return "prompt" if "prompt" in body else "input"


def test_images_count_in_the_estimate_by_their_detail():
    # Without them, a prompt of twenty images would be estimated as its text alone.
    def image(detail: str | None) -> dict:
        url = {"url": "https://example.com/cat.png"}
        return {"type": "image_url", "image_url": {**url, "detail": detail} if detail else url}

    text = {"type": "text", "text": "What is this?"}
    plain = [{"role": "user", "content": [text]}]
    with_images = [{"role": "user", "content": [text, image("low"), image("high"), image(None)]}]
    base = estimate.prompt_tokens({"messages": plain}, "gpt-4o")
    assert estimate.prompt_tokens({"messages": with_images}, "gpt-4o") == base + 85 + 765 + 765
