"""Per-key rate limits in this process: RPM, TPM, headers, 429s, reset and token settlement."""

from __future__ import annotations

import logging
import re

import pytest

from app import create_app, tokens
from app.backends import shaping
from app.errors import UpstreamError
from tests.support.openai_checks import check_error
from tests.support.servers import free_port
from tests.unit.keys_helpers import CHAT, ENDPOINTS, get, post, sha256_hex, write_keys_file

RPM_KEY, TPM_KEY, BOTH_KEY, FREE_KEY = "sk-rpm-3f1", "sk-tpm-9c2", "sk-both-77d", "sk-free-0e4"
TPM = 1000
ENTRIES = [
    {"name": "rpm", "key_sha256": sha256_hex(RPM_KEY), "rpm": 3},
    {"name": "tpm", "key_sha256": sha256_hex(TPM_KEY), "tpm": TPM},
    {"name": "both", "key_sha256": sha256_hex(BOTH_KEY), "rpm": 2, "tpm": TPM},
    {"name": "free", "key_sha256": sha256_hex(FREE_KEY)},
]
CHAT_URL = "/v1/chat/completions"
# Chat tokens are counted the way the mock backend reports its prompt usage.
ESTIMATE = tokens.count_messages(CHAT["messages"], "mock")
LIMIT_HEADERS = ("limit", "remaining", "reset")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def config(config, tmp_path):
    """Four keys from a keys file: RPM 3, TPM 1000, both (2 / 1000), no limits."""
    return {**config, "KEYS_FILE": write_keys_file(tmp_path, ENTRIES)}


@pytest.fixture
def clock(app) -> Clock:
    """The in-process store's clock, under the test's control."""
    fake = Clock()
    app.extensions["gateway.ratelimit"].store.clock = fake
    return fake


def trio(response, kind: str) -> tuple[str | None, ...]:
    """The x-ratelimit limit, remaining and reset headers for `kind`."""
    return tuple(response.headers.get(f"x-ratelimit-{h}-{kind}") for h in LIMIT_HEADERS)


@pytest.mark.parametrize(("path", "body"), ENDPOINTS)
def test_rpm_admits_the_limit_then_429_with_headers(client, clock, path, body):
    for remaining in ("2", "1", "0"):
        response = post(client, path, body, RPM_KEY)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert trio(response, "requests") == ("3", remaining, "1m0s")
        assert trio(response, "tokens") == (None, None, None)
        assert "Retry-After" not in response.headers
    clock.now += 12.5
    refused = post(client, path, body, RPM_KEY)
    assert refused.status_code == 429
    error = check_error(refused.get_json(), 429)
    assert (error.type, error.code, error.param) == ("requests", "rate_limit_exceeded", None)
    assert error.message == (
        f"Rate limit reached for {body['model']} on requests per min (RPM): Limit 3, Used 3, "
        "Requested 1. Please try again in 47.5s."
    )
    assert trio(refused, "requests") == ("3", "0", "47.5s")
    assert refused.headers["Retry-After"] == "48"


def test_window_resets_after_its_length(client, clock):
    for _ in range(3):
        post(client, CHAT_URL, CHAT, RPM_KEY)
    clock.now = 1059.98
    refused = post(client, CHAT_URL, CHAT, RPM_KEY)
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-reset-requests"] == "20ms"
    assert refused.headers["Retry-After"] == "1"
    clock.now = 1060.0
    response = post(client, CHAT_URL, CHAT, RPM_KEY)
    assert response.status_code == 200
    assert trio(response, "requests") == ("3", "2", "1m0s")


def test_refused_requests_are_not_counted(client, clock):
    for _ in range(3):
        post(client, CHAT_URL, CHAT, RPM_KEY)
    for _ in range(5):
        assert post(client, CHAT_URL, CHAT, RPM_KEY).status_code == 429
    clock.now += 60
    assert [post(client, CHAT_URL, CHAT, RPM_KEY).status_code for _ in range(4)] == [
        200,
        200,
        200,
        429,
    ]


def test_keys_have_their_own_windows(client, clock):
    for _ in range(3):
        post(client, CHAT_URL, CHAT, RPM_KEY)
    assert post(client, CHAT_URL, CHAT, RPM_KEY).status_code == 429
    response = post(client, CHAT_URL, CHAT, BOTH_KEY)
    assert response.status_code == 200
    assert trio(response, "requests") == ("2", "1", "1m0s")


def test_headers_are_on_error_responses_too(client, clock):
    bad = post(client, CHAT_URL, {"model": "mock", "messages": "hi"}, RPM_KEY)
    assert bad.status_code == 400
    assert trio(bad, "requests") == ("3", "2", "1m0s")
    missing = post(client, CHAT_URL, {**CHAT, "model": "no-such-model"}, RPM_KEY)
    assert missing.status_code == 404
    assert trio(missing, "requests") == ("3", "1", "1m0s")


def test_keys_without_limits_and_model_listing_get_no_headers(client, clock):
    response = post(client, CHAT_URL, CHAT, FREE_KEY)
    assert response.status_code == 200
    assert not [h for h in response.headers.keys() if h.lower().startswith("x-ratelimit")]
    for _ in range(5):
        listing = get(client, "/v1/models", RPM_KEY)
        assert listing.status_code == 200 and "x-ratelimit-limit-requests" not in listing.headers
    assert post(client, CHAT_URL, CHAT, RPM_KEY).status_code == 200


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


def test_default_limits_apply_to_keys_without_their_own(config, tmp_path):
    entries = [*ENTRIES, {"name": "unlimited", "key_sha256": sha256_hex("sk-zero"), "rpm": 0}]
    config = {
        **config,
        "GATEWAY_API_KEYS": ["sk-plain-key"],
        "KEYS_FILE": write_keys_file(tmp_path, entries),
        "RATE_LIMIT_RPM": 2,
    }
    client = create_app(config).test_client()
    assert [post(client, CHAT_URL, CHAT, "sk-plain-key").status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    assert post(client, CHAT_URL, CHAT, RPM_KEY).headers["x-ratelimit-limit-requests"] == "3"
    assert post(client, CHAT_URL, CHAT, TPM_KEY).headers["x-ratelimit-limit-requests"] == "2"
    unlimited = [post(client, CHAT_URL, CHAT, "sk-zero") for _ in range(4)]
    assert all(r.status_code == 200 for r in unlimited)
    assert "x-ratelimit-limit-requests" not in unlimited[-1].headers


@pytest.mark.parametrize("fail_open", [True, False])
def test_unreachable_redis_fails_open_or_closed_never_500(config, caplog, fail_open):
    config = {
        **config,
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "RATE_LIMIT_FAIL_OPEN": fail_open,
    }
    caplog.set_level(logging.DEBUG)
    client = create_app(config).test_client()
    responses = [post(client, CHAT_URL, CHAT, RPM_KEY) for _ in range(5)]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "Redis is unreachable" in errors[0].getMessage()
    for response in responses:
        assert "x-ratelimit-limit-requests" not in response.headers
        assert RPM_KEY not in response.get_data(as_text=True)
        if fail_open:
            assert response.status_code == 200
        else:
            assert response.status_code == 503
            error = check_error(response.get_json(), 503)
            assert (error.type, error.code) == ("server_error", "rate_limit_unavailable")
            assert response.headers["Retry-After"] == "1"
    assert RPM_KEY not in caplog.text
    assert post(client, CHAT_URL, CHAT, FREE_KEY).status_code == 200


def test_a_window_of_zero_stops_the_start(config):
    with pytest.raises(ValueError, match="RATE_LIMIT_WINDOW_SECONDS must be above 0"):
        create_app({**config, "RATE_LIMIT_WINDOW_SECONDS": 0})
