"""Per-key request limits in this process: RPM windows, headers, 429s, defaults and start-up."""

from __future__ import annotations

import logging

import pytest

from app import create_app
from tests.support.openai_checks import check_error
from tests.support.servers import free_port
from tests.unit import ratelimit_helpers
from tests.unit.keys_helpers import CHAT, ENDPOINTS, get, post, sha256_hex, write_keys_file
from tests.unit.ratelimit_helpers import (
    BOTH_KEY,
    CHAT_URL,
    ENTRIES,
    FREE_KEY,
    RPM_KEY,
    TPM_KEY,
    trio,
)

config = ratelimit_helpers.config
clock = ratelimit_helpers.clock


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
