"""GET /metrics: what each request adds, bounded labels, no keys, and the optional token."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import backends as backend_registry
from app import metrics
from app.errors import APIError, UpstreamError, UpstreamTimeoutError
from tests.support import openai_checks as checks
from tests.support.scripted_backend import SCRIPTED
from tests.support.sse import event_data

CLIENT_SECRET = "sk-unit-metrics-recognisable-secret"
MODELS = {
    "backends": {
        "mock": {"type": "mock"},
        "ok": {"type": "scripted", "chunks": 3},
        "endless": {"type": "scripted", "chunks": -1},
        "breaks": {"type": "scripted", "chunks": 5, "fail_after": 2, "error": "upstream"},
        "dead": {"type": "scripted", "fail_after": 0, "error": "upstream"},
    },
    "models": [
        {"id": "gpt-4o", "backend": "mock"},
        {"id": "mock/*", "backend": "mock", "strip_prefix": "mock/"},
        {"id": "dead/*", "backend": "dead"},
    ]
    + [{"id": name, "backend": name} for name in ("ok", "endless", "breaks", "dead")],
}
CHAT = "/v1/chat/completions"


@pytest.fixture
def config(monkeypatch):
    """Scripted backends beside the mock, and one client key."""
    monkeypatch.setitem(backend_registry.BACKEND_TYPES, "scripted", SCRIPTED)
    return {"TESTING": True, "MODELS": MODELS, "GATEWAY_API_KEYS": [CLIENT_SECRET]}


@pytest.fixture
def auth():
    """Headers with the client key."""
    return {"Authorization": f"Bearer {CLIENT_SECRET}"}


def scrape(client, **headers) -> str:
    """The exposition text of /metrics."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return response.get_data(as_text=True)


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def chat(client, auth, model: str, **extra):
    """POST a chat request and read it to its end (observers run when the body closes)."""
    body = {"model": model, "messages": [{"role": "user", "content": "Count to three"}], **extra}
    response = client.post(CHAT, json=body, headers=auth)
    response.get_data()
    response.close()
    return response


def test_single_process_registry_without_multiproc_dir(app):
    assert metrics.multiprocess_mode() is False
    assert app.extensions["gateway.metrics"].registry is not None


def test_metrics_need_no_client_key(client):
    text = scrape(client)
    assert "# TYPE gateway_requests_total counter" in text
    assert "gateway_active_streams 0.0" in text


def test_chat_counts_request_latency_and_tokens_by_key_name(client, auth):
    assert chat(client, auth, "gpt-4o").status_code == 200
    text = scrape(client)
    route = {"route": CHAT, "model": "gpt-4o"}
    assert value(text, "gateway_requests_total", **route, backend="mock", status="200") == 1
    assert value(text, "gateway_request_duration_seconds_count", **route, stream="false") == 1
    assert value(text, "gateway_prompt_tokens_total", key="key-1", model="gpt-4o") > 0
    assert value(text, "gateway_completion_tokens_total", key="key-1", model="gpt-4o") > 0
    assert CLIENT_SECRET not in text
    # A scrape is not a request of the API; it is not counted.
    assert value(scrape(client), "gateway_requests_total", route="/metrics") == 0


def test_stream_counts_ttft_and_is_active_until_closed(client, auth):
    response = client.post(
        CHAT,
        json={"model": "endless", "messages": [{"role": "user", "content": "hi"}], "stream": True},
        headers=auth,
        buffered=False,
    )
    events = iter(response.response)
    next(events), next(events)
    assert value(scrape(client), "gateway_active_streams") == 1
    response.close()
    text = scrape(client)
    assert value(text, "gateway_active_streams") == 0
    assert value(text, "gateway_time_to_first_token_seconds_count", model="endless") == 1
    assert value(text, "gateway_request_duration_seconds_count", stream="true") == 1


def test_model_label_is_bounded(client, auth):
    assert chat(client, auth, "no-such-model").status_code == 404
    assert chat(client, auth, "mock/anything").status_code == 200
    assert chat(client, auth, "dead/made-up-name").status_code == 502
    text = scrape(client)
    assert value(text, "gateway_requests_total", model="unknown", status="404") == 1
    # A name a pattern routed is kept once an upstream answered it, not when it failed.
    assert value(text, "gateway_requests_total", model="mock/anything", status="200") == 1
    assert value(text, "gateway_requests_total", model="unknown", status="502") == 1
    assert "made-up-name" not in text and "no-such-model" not in text
    # Unknown models are the client's mistake, not an upstream failure.
    assert value(text, "gateway_upstream_errors_total", status="404") == 0


def test_names_a_pattern_routed_become_at_most_so_many_labels(client, auth, monkeypatch):
    monkeypatch.setattr(metrics, "MAX_PATTERN_MODELS", 2)
    for name in ("mock/a", "mock/b", "mock/c", "mock/a", "mock/d"):
        assert chat(client, auth, name).status_code == 200
    text = scrape(client)
    assert value(text, "gateway_requests_total", model="mock/a", status="200") == 2
    assert value(text, "gateway_requests_total", model="mock/b", status="200") == 1
    assert value(text, "gateway_requests_total", model="other", status="200") == 2
    assert "mock/c" not in text and "mock/d" not in text


def test_unmatched_routes_share_one_label(client):
    response = client.get("/v1/no/such/path/12345")
    response.close()
    assert response.status_code == 404
    text = scrape(client)
    assert value(text, "gateway_requests_total", route="other", status="404") == 1
    assert "12345" not in text


def test_upstream_errors_by_backend_model_class_and_status(client, auth):
    assert chat(client, auth, "dead").status_code == 502
    streamed = chat(client, auth, "breaks", stream=True)
    raw_events = streamed.get_data().strip().split(b"\n\n")
    checks.check_error_sse([event_data(raw) for raw in raw_events])
    text = scrape(client)
    # The scripted backend's own code is not one the gateway knows: its type names the class.
    dead = {"backend": "dead", "model": "dead", "class": "server_error", "status": "502"}
    assert value(text, "gateway_upstream_errors_total", **dead) == 1
    breaks = {"backend": "breaks", "model": "breaks", "class": "server_error"}
    assert value(text, "gateway_upstream_errors_total", **breaks, status="stream") == 1
    assert value(text, "gateway_requests_total", model="breaks", status="200") == 1


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (UpstreamError("x", code="upstream_unreachable"), "upstream_unreachable"),
        (UpstreamError("x", code="upstream_disconnected"), "upstream_disconnected"),
        (UpstreamError("x", code="upstream_bad_response"), "upstream_bad_response"),
        (UpstreamTimeoutError("x"), "upstream_timeout"),
        (UpstreamError("x"), "server_error"),
        (
            APIError("x", status=400, type="invalid_request_error", code="made up"),
            "invalid_request_error",
        ),
        (APIError("x", status=418, type="teapot_error", code="made up"), "other"),
    ],
)
def test_error_class_is_a_known_code_else_the_type(error, expected):
    assert metrics.error_class(error) == expected


def test_error_types_outside_openais_are_other():
    assert metrics._error_type("server_error") == "server_error"
    assert metrics._error_type("some_upstream_invention") == "other"
    assert metrics._error_type(None) == "other"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", f"Bearer {CLIENT_SECRET}", "Basic metrics-token-1"],
    ids=["none", "wrong", "client-key", "not-bearer"],
)
def test_metrics_token_is_required_when_set(config, header):
    from app import create_app

    client = create_app({**config, "METRICS_TOKEN": "metrics-token-1"}).test_client()
    headers = {"Authorization": header} if header else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    checks.check_error(response.get_json(), 401)
    assert "metrics-token-1" not in response.get_data(as_text=True)
    assert "gateway_requests_total" in scrape(client, Authorization="Bearer metrics-token-1")


def test_metrics_can_be_turned_off(config):
    from app import create_app

    client = create_app({**config, "METRICS_ENABLED": False}).test_client()
    response = client.get("/metrics")
    assert response.status_code == 404
    checks.check_error(response.get_json(), 404)
