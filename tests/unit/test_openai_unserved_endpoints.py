"""An upstream that answers an endpoint it does not serve with a 2xx and an error saying so
(LM Studio's `{"error": "Unexpected endpoint or method. (POST /…)"}`) is the 404 OpenAI answers
for an unknown path: an `invalid_request_error`, neither retried nor sent to a fallback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.openai_checks import check_error
from tests.support.openai_upstream import UPSTREAM, chat_body, make_app

# As LM Studio sends it: status 200, this media type, the method and path it was asked for.
JSON_UTF8 = "application/json; charset=utf-8"
# Every attempt the gateway could make: a strict mock fails any call past the first.
PERSISTENT = [
    {"id": "gw", "backend": "up", "model": "real-model", "retries": 2, "fallbacks": ["other"]},
    {"id": "other", "backend": "up", "model": "other-model"},
]


def unserved(path: str, anyway: bool = False) -> bytes:
    message = f"Unexpected endpoint or method. (POST {path})"
    return json.dumps({"error": message + (". Returning 200 anyway" if anyway else "")}).encode()


@pytest.fixture
def client(monkeypatch):
    return make_app(monkeypatch, models=PERSISTENT).test_client()


REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("/v1/embeddings", "/embeddings", {"model": "gw", "input": "x"}),
    ("/v1/chat/completions", "/chat/completions", chat_body()),
    ("/v1/chat/completions", "/chat/completions", chat_body(stream=True)),
    ("/v1/completions", "/completions", {"model": "gw", "prompt": "x", "stream": True}),
]


@pytest.mark.parametrize(("path", "upstream_path", "body"), REQUESTS)
@pytest.mark.parametrize("anyway", [False, True])
def test_an_unserved_endpoint_is_a_404_that_is_not_tried_again(
    client, upstream, path, upstream_path, body, anyway
):
    upstream.post(
        UPSTREAM + upstream_path, body=unserved(upstream_path, anyway), content_type=JSON_UTF8
    )
    response = client.post(path, json=body)
    assert response.status_code == 404 and len(upstream.calls) == 1
    error = check_error(response.get_json(), 404)
    assert error.type == "invalid_request_error" and error.code == "upstream_endpoint_not_found"
    assert error.message.startswith("Upstream `up` does not serve this endpoint: Unexpected")
    assert f"(POST {upstream_path})" in error.message


def test_the_same_answer_sent_as_an_event_stream_is_the_same_404(client, upstream):
    body = unserved("/chat/completions")
    upstream.post(UPSTREAM + "/chat/completions", body=body, content_type="text/event-stream")
    response = client.post("/v1/chat/completions", json=chat_body(stream=True))
    assert response.status_code == 404
    assert check_error(response.get_json(), 404).code == "upstream_endpoint_not_found"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("Model is not loaded", 502),
        ({"message": "Unknown route", "code": 503}, 502),  # a status it names comes first
        ({"message": "Unsupported endpoint", "code": 400}, 400),
        ({"message": "invalid image url", "type": "invalid_request_error"}, 400),
    ],
)
def test_other_errors_sent_with_a_200_keep_their_status(monkeypatch, upstream, error, status):
    client = make_app(monkeypatch).test_client()
    upstream.post(UPSTREAM + "/chat/completions", json={"error": error})
    response = client.post("/v1/chat/completions", json=chat_body())
    assert response.status_code == status
    assert check_error(response.get_json(), status).code != "upstream_endpoint_not_found"
