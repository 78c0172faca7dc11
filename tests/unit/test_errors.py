"""Every failure is the OpenAI error envelope with the right HTTP status."""

from __future__ import annotations

import logging

import pytest

from app import create_app, errors
from tests.support.openai_checks import check_error

CHAT = "/v1/chat/completions"
INVALID = "invalid_request_error"
BODY = {"model": "mock", "messages": [{"role": "user", "content": "hi"}]}
# Text only an internal failure knows; it must never reach a client.
INTERNAL = "database password is hunter2 at /srv/app/secret.py"
# OpenAI's answer to a body it cannot parse, without its pointer to OpenAI's help center.
BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
    "valid JSON.)"
)


def raising(error: Exception):
    """A view function that raises `error`."""

    def view():
        raise error

    return view


def envelope(response, status: int) -> dict:
    """The checked error object of a JSON error response with `status`."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    check_error(response.get_json(), status)
    return response.get_json()["error"]


@pytest.mark.parametrize(
    ("error", "status", "type_", "code"),
    [
        (errors.InvalidRequestError("bad", param="x"), 400, INVALID, None),
        (errors.UnsupportedError("no", param="x"), 400, INVALID, "unsupported_parameter"),
        (errors.PayloadTooLarge("big"), 413, "invalid_request_error", "request_too_large"),
        (errors.AuthenticationError("who"), 401, "invalid_request_error", "invalid_api_key"),
        (errors.MissingAPIKeyError("none"), 401, "invalid_request_error", None),
        (errors.PermissionDeniedError("no"), 403, "invalid_request_error", None),
        (errors.NotFoundError("gone"), 404, "invalid_request_error", None),
        (errors.ModelNotFoundError("m"), 404, "invalid_request_error", "model_not_found"),
        (errors.RateLimitError("slow down"), 429, "requests", "rate_limit_exceeded"),
        (errors.UpstreamError("upstream broke"), 502, "server_error", None),
        (errors.UpstreamTimeoutError("too slow"), 504, "timeout", "upstream_timeout"),
        (errors.APIError("teapot", status=418, type=INVALID), 418, INVALID, None),
    ],
)
def test_api_errors_keep_status_type_code_and_param(config, error, status, type_, code):
    app = create_app(config)
    app.add_url_rule("/boom", "boom", raising(error))
    body = envelope(app.test_client().get("/boom"), status)
    assert (body["message"], body["type"], body["code"]) == (error.message, type_, code)
    assert body["param"] == error.param


def test_api_error_headers_reach_the_client(config):
    app = create_app(config)
    limited = errors.RateLimitError("slow down", headers={"Retry-After": "7"})
    app.add_url_rule("/boom", "boom", raising(limited))
    response = app.test_client().get("/boom")
    envelope(response, 429)
    assert response.headers["Retry-After"] == "7"


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_url_is_openais_404(client, method):
    response = client.open("/v1/nothing-here", method=method, json=BODY)
    assert response.status_code == 404
    assert response.get_json() == {
        "error": {
            "message": f"Invalid URL ({method} /v1/nothing-here)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_unknown_url_path_is_scrubbed_and_cut(config):
    secret = "sk-gateway-client-key-5e1f0a"
    client = create_app({**config, "GATEWAY_API_KEYS": [secret]}).test_client()
    body = envelope(client.get(f"/v1/{secret}/x"), 404)
    assert body["message"] == "Invalid URL (GET /v1/***/x)"
    long = envelope(client.get("/v1/" + "a" * 5000), 404)
    assert long["message"] == "Invalid URL (GET /v1/" + "a" * 196 + ")"


def test_wrong_method_path_is_scrubbed_and_cut(config):
    secret = "sk-gateway-client-key-5e1f0a"
    client = create_app({**config, "GATEWAY_API_KEYS": [secret]}).test_client()
    path = f"/v1/models/{secret}/" + "a" * 5000
    body = envelope(client.delete(path), 405)
    shown = "/v1/models/***/" + "a" * (200 - len("/v1/models/***/"))
    assert body["message"] == f"Method DELETE is not allowed for {shown}."
    assert secret not in body["message"]


def test_wrong_method_is_405_with_allow(client):
    response = client.get(CHAT)
    body = envelope(response, 405)
    assert body["code"] == "method_not_allowed"
    assert "POST" in {m.strip() for m in response.headers["Allow"].split(",")}
    models = client.delete("/v1/models")
    envelope(models, 405)
    assert "GET" in models.headers["Allow"]


@pytest.mark.parametrize(
    ("data", "content_type", "code"),
    [
        ('{"model": "mock",', "application/json", None),
        ("", "application/json", None),
        (b"\xff\xfe{}", "application/json", None),
        ("[1, 2]", "application/json", "invalid_json"),
        ('"just a string"', "application/json", "invalid_json"),
        ("[" * 100_000, "application/json", None),
        ('{"model": "mock"}', "text/plain", "invalid_content_type"),
        ("model=mock", "application/x-www-form-urlencoded", "invalid_content_type"),
        ('{"model": "mock"}', None, "invalid_content_type"),
    ],
    ids=["truncated", "empty", "not-utf8", "array", "string", "deep", "text", "form", "none"],
)
def test_unreadable_bodies_are_400(client, data, content_type, code):
    headers = {"Content-Type": content_type} if content_type else {}
    body = envelope(client.post(CHAT, data=data, headers=headers), 400)
    assert (body["type"], body["code"], body["param"]) == ("invalid_request_error", code, None)
    # A body that is not JSON at all gets OpenAI's own words (and code null).
    assert (body["message"] == BAD_JSON) == (code is None)


@pytest.mark.parametrize("path", [CHAT, "/v1/completions", "/v1/embeddings"])
def test_unparseable_json_is_openais_400(client, path):
    response = client.post(path, data="{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json() == {
        "error": {"message": BAD_JSON, "type": INVALID, "param": None, "code": None}
    }


def test_json_media_type_with_charset_or_suffix_is_read(client):
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        response = client.post(CHAT, json=BODY, headers={"Content-Type": content_type})
        assert response.status_code == 200, content_type


def test_body_over_the_limit_is_413(config):
    client = create_app({**config, "MAX_CONTENT_LENGTH": 200}).test_client()
    assert client.post(CHAT, json=BODY).status_code == 200
    big = {**BODY, "messages": [{"role": "user", "content": "x" * 300}]}
    body = envelope(client.post(CHAT, json=big), 413)
    assert body["code"] == "request_too_large"
    assert "200 bytes" in body["message"]


def test_unknown_model_is_404_model_not_found(client):
    body = envelope(client.post(CHAT, json={**BODY, "model": "no-such-model"}), 404)
    assert (body["code"], body["param"]) == ("model_not_found", None)
    assert "no-such-model" in body["message"]


def test_unexpected_exception_is_a_bare_500_logged_with_the_request_id(app, client, caplog):
    def crash(call):
        raise RuntimeError(INTERNAL)

    app.extensions["gateway.backends"]["mock"].chat = crash
    with caplog.at_level(logging.ERROR, logger="app"):
        response = client.post(CHAT, json=BODY, headers={"X-Request-ID": "req-test-500"})
    body = envelope(response, 500)
    assert body["type"] == "server_error"
    assert "req-test-500" in body["message"]
    text = response.get_data(as_text=True)
    assert INTERNAL not in text and "Traceback" not in text and "RuntimeError" not in text
    assert response.headers["X-Request-ID"] == "req-test-500"
    records = [r for r in caplog.records if "req-test-500" in r.getMessage()]
    assert records and records[0].exc_info is not None, "the traceback stays in the log"


def test_failing_route_on_a_test_app_is_a_500_envelope(config):
    app = create_app(config)
    app.add_url_rule("/crash", "crash", raising(ZeroDivisionError(INTERNAL)))
    body = envelope(app.test_client().get("/crash"), 500)
    assert INTERNAL not in body["message"]


def test_errors_carry_a_request_id_header(client):
    response = client.get("/v1/nothing-here")
    assert response.headers["X-Request-ID"].startswith("req_")
    echoed = client.get("/v1/nothing-here", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    unsafe = client.get("/v1/nothing-here", headers={"X-Request-ID": "bad id <script>"})
    assert unsafe.headers["X-Request-ID"].startswith("req_")
