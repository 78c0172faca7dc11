"""Retries and fallbacks: which failures are retried, in what order, and how long we wait."""

from __future__ import annotations

import json
from email.utils import formatdate

import pytest
import requests
import responses
from prometheus_client.parser import text_string_to_metric_families

from app.errors import APIError
from app.services import dispatch
from tests.support.openai_upstream import (
    CHAT_URL,
    chat_body,
    completion,
    make_app,
    sse_body,
    sse_payloads,
    stream_chunks,
)

ALT = "http://alt.test/v1"
ALT_URL = ALT + "/chat/completions"
MODELS = [
    {
        "id": "gw",
        "backend": "up",
        "model": "real-model",
        "retries": 2,
        "fallbacks": ["second", "third"],
    },
    # `second` has fallbacks of its own; they are not followed when it is a fallback.
    {"id": "second", "backend": "alt", "model": "second-real", "fallbacks": ["fourth"]},
    {"id": "third", "backend": "alt", "model": "third-real", "retries": 1},
    {"id": "fourth", "backend": "alt", "model": "fourth-real"},
    {"id": "plain", "backend": "up", "model": "plain-real"},
]
ERROR = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}


@pytest.fixture
def sleeps(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(dispatch, "sleep", waits.append)
    return waits


@pytest.fixture
def upstream():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client(monkeypatch, sleeps):
    alt = {"type": "openai", "base_url": ALT}
    app = make_app(
        monkeypatch,
        models=MODELS,
        backends={"alt": alt},
        RETRY_BACKOFF_BASE=0.5,
        RETRY_BACKOFF_MAX=4.0,
    )
    return app.test_client()


def models_sent(upstream) -> list[str]:
    """The upstream model of every request the upstreams received, in order."""
    return [json.loads(call.request.body)["model"] for call in upstream.calls]


def post(client, model="gw", **extra):
    return client.post("/v1/chat/completions", json=chat_body(model=model, **extra))


def samples(client, name: str) -> list[dict[str, str | float]]:
    """The labels of each sample called `name` on /metrics, with its value under "value"."""
    text = client.get("/metrics").get_data(as_text=True)
    return [
        {**sample.labels, "value": sample.value}
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def upstream_errors(client, status: str | None = None) -> dict[tuple[str, str, str], float]:
    """gateway_upstream_errors_total by (backend, model, class), for one status or all."""
    counts: dict[tuple[str, str, str], float] = {}
    for found in samples(client, "gateway_upstream_errors_total"):
        if status is None or found["status"] == status:
            key = (str(found["backend"]), str(found["model"]), str(found["class"]))
            counts[key] = counts.get(key, 0) + float(found["value"])
    return counts


# -- retries --------------------------------------------------------------------------------


def test_5xx_is_retried_with_growing_jittered_waits_then_succeeds(client, upstream, sleeps):
    upstream.post(CHAT_URL, json=ERROR, status=503)
    upstream.post(CHAT_URL, json=ERROR, status=500)
    upstream.post(CHAT_URL, json=completion())
    response = post(client)
    assert response.status_code == 200
    assert response.headers["x-gateway-backend"] == "up/real-model"
    assert models_sent(upstream) == ["real-model"] * 3
    assert len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0


@pytest.mark.parametrize(
    "failure",
    [
        {"body": requests.ConnectionError("refused")},
        {"body": requests.ReadTimeout("slow")},
        {"json": {"error": {"message": "slow down", "type": "requests"}}, "status": 429},
    ],
)
def test_connection_errors_timeouts_and_429_are_retried(client, upstream, failure):
    upstream.post(CHAT_URL, **failure)
    upstream.post(CHAT_URL, json=completion())
    assert post(client).status_code == 200
    assert len(upstream.calls) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_neither_retried_nor_fallen_back_from(client, upstream, sleeps, status):
    upstream.post(
        CHAT_URL, json={"error": {"message": "no", "type": "invalid_request_error"}}, status=status
    )
    upstream.post(ALT_URL, json=completion())
    response = post(client)
    assert response.status_code == status
    assert models_sent(upstream) == ["real-model"]
    assert sleeps == []


def test_retry_after_is_honoured_up_to_the_cap(client, upstream, sleeps):
    limited = {"json": {"error": {"message": "later", "type": "requests"}}, "status": 429}
    upstream.post(CHAT_URL, headers={"Retry-After": "1.5"}, **limited)
    upstream.post(CHAT_URL, headers={"retry-after-ms": "250"}, **limited)
    upstream.post(CHAT_URL, json=completion())
    assert post(client).status_code == 200
    assert sleeps == [1.5, 0.25]


def test_a_long_retry_after_is_cut_to_the_cap(client, upstream, sleeps):
    limited = {"json": {"error": {"message": "later", "type": "requests"}}, "status": 429}
    upstream.post(CHAT_URL, headers={"Retry-After": "3600"}, **limited)
    upstream.post(CHAT_URL, json=completion())
    assert post(client).status_code == 200
    assert sleeps == [4.0]


def test_the_last_error_and_its_headers_reach_the_client_when_all_fail(client, upstream):
    upstream.post(
        CHAT_URL,
        json={"error": {"message": "later", "type": "requests"}},
        status=429,
        headers={"Retry-After": "1"},
    )
    response = post(client, model="plain")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert len(upstream.calls) == 1


# -- metrics -------------------------------------------------------------------------------


def test_a_rescued_retry_counts_its_failed_attempt_by_class(client, upstream):
    upstream.post(CHAT_URL, body=requests.ConnectionError("refused"))
    upstream.post(CHAT_URL, json=ERROR, status=503)
    upstream.post(CHAT_URL, json=completion())
    response = post(client)
    response.close()
    assert response.status_code == 200
    assert upstream_errors(client) == {
        ("up", "gw", "upstream_unreachable"): 1,
        ("up", "gw", "server_error"): 1,
    }
    # The request itself is still counted once, by its final outcome.
    [request] = samples(client, "gateway_requests_total")
    assert (request["model"], request["backend"], request["status"]) == ("gw", "up", "200")
    assert request["value"] == 1


def test_a_fallback_counts_the_failures_of_the_model_it_replaced(client, upstream):
    upstream.post(CHAT_URL, body=requests.ReadTimeout("slow"))
    upstream.post(ALT_URL, json=completion(model="second-real"))
    response = post(client)
    response.close()
    assert response.status_code == 200
    assert upstream_errors(client, status="504") == {("up", "gw", "upstream_timeout"): 3}
    assert upstream_errors(client) == upstream_errors(client, status="504")


def test_a_client_error_is_counted_once_and_upstream_codes_do_not_become_labels(client, upstream):
    invented = {"message": "no", "type": "invalid_request_error", "code": "free text 123"}
    upstream.post(CHAT_URL, json={"error": invented}, status=400)
    response = post(client)
    response.close()
    assert response.status_code == 400
    assert upstream_errors(client) == {("up", "gw", "invalid_request_error"): 1}


# -- fallbacks ------------------------------------------------------------------------------


def test_fallbacks_are_tried_in_order_once_retries_are_spent(client, upstream, sleeps):
    upstream.post(CHAT_URL, json=ERROR, status=502)
    upstream.post(ALT_URL, json=ERROR, status=500)
    response = post(client)
    # gw: 1 + 2 retries; second: once (its own fallback `fourth` is not followed); third: 1 + 1.
    assert models_sent(upstream) == ["real-model"] * 3 + ["second-real"] + ["third-real"] * 2
    assert response.status_code == 502
    assert len(sleeps) == 3  # no wait before switching to a fallback


def test_a_fallback_answers_under_the_requested_model(client, upstream):
    upstream.post(CHAT_URL, body=requests.ConnectionError("down"))
    upstream.post(ALT_URL, json=completion(model="second-real"))
    response = post(client)
    assert response.status_code == 200
    assert response.get_json()["model"] == "gw"
    assert response.headers["x-gateway-backend"] == "alt/second-real"
    assert models_sent(upstream) == ["real-model"] * 3 + ["second-real"]


def test_a_model_listed_among_its_own_fallbacks_is_tried_once(monkeypatch, upstream, sleeps):
    models = [{"id": "gw", "backend": "up", "model": "real-model", "fallbacks": ["gw", "gw"]}]
    client = make_app(monkeypatch, models=models).test_client()
    upstream.post(CHAT_URL, json=ERROR, status=500)
    assert post(client).status_code == 502
    assert len(upstream.calls) == 1


# -- streams --------------------------------------------------------------------------------


def test_a_stream_failing_before_its_first_event_is_retried(client, upstream):
    upstream.post(CHAT_URL, json=ERROR, status=503)
    upstream.post(
        CHAT_URL,
        body=sse_body(stream_chunks("a"), done=False)[:0],
        content_type="text/event-stream",
    )
    upstream.post(CHAT_URL, body=sse_body(stream_chunks("a")), content_type="text/event-stream")
    response = post(client, stream=True)
    assert response.status_code == 200
    assert sse_payloads(response.get_data())[-1] == "[DONE]"
    assert len(upstream.calls) == 3


def test_a_stream_failing_after_its_first_event_is_not_retried(client, upstream):
    # Ended before its finish chunk: an unfinished answer.
    unfinished = sse_body(stream_chunks("a")[:-1], done=False)
    upstream.post(CHAT_URL, body=unfinished, content_type="text/event-stream")
    upstream.post(CHAT_URL, body=sse_body(stream_chunks("a")), content_type="text/event-stream")
    response = post(client, stream=True)
    assert response.status_code == 200
    assert "error" in sse_payloads(response.get_data())[-1]
    assert len(upstream.calls) == 1


# -- backoff --------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 10])
def test_backoff_is_exponential_with_jitter_and_capped(attempt):
    error = APIError("x")
    delays = {dispatch.backoff(attempt, error, 0.25, 2.0) for _ in range(50)}
    expected = min(2.0, 0.25 * 2**attempt)
    assert all(expected / 2 <= d <= expected for d in delays)
    assert len(delays) > 1  # jittered


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After-Ms": "1200", "Retry-After": "9"}, 1.2),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-1"}, None),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers, expected):
    assert dispatch.retry_after(headers) == expected


def test_retry_after_as_an_http_date():
    seconds = dispatch.retry_after({"Retry-After": formatdate(timeval=None, usegmt=True)})
    assert seconds is not None and 0 <= seconds <= 1
    assert dispatch.backoff(0, APIError("x", headers={"Retry-After": "100"}), 0.1, 4.0) == 4.0
