"""t3chat failures through the gateway: refused sessions, limits, bad answers, no leaked secrets."""

from __future__ import annotations

import json
import logging

import pytest
import requests
import responses

from tests.fakes.t3chat import (
    COOKIES,
    LOGIN_PAGE,
    RECORDED_DATA_STREAM,
    SESSION_ID,
)
from tests.support import t3chat_fakes
from tests.support.t3chat_fakes import UPSTREAM, chat, sse_payloads

SECRETS = (COOKIES, SESSION_ID, "Fe26.2**fake:sealed:value", "clear:ance-0042")

# The shared fixtures, bound here so that pytest finds them.
config = t3chat_fakes.config
upstream = t3chat_fakes.upstream


@pytest.mark.parametrize(
    "status, headers, content_type, body, expected",
    [
        (401, {}, "application/json", b'{"error":"Unauthorized"}', 401),
        (403, {}, "application/json", b'{"error":"Forbidden"}', 403),
        (200, {}, "text/html", LOGIN_PAGE.encode(), 401),
        (200, {}, "text/plain", b"\n" + LOGIN_PAGE.encode(), 401),
        (307, {"Location": "/login"}, "text/plain", b"", 401),
    ],
    ids=["401", "403", "html-200", "html-sniffed", "redirect"],
)
def test_refused_sessions(client, upstream, status, headers, content_type, body, expected):
    upstream.add(
        responses.POST,
        UPSTREAM,
        status=status,
        headers=headers,
        content_type=content_type,
        body=body,
    )
    for stream in (False, True):
        response = chat(client, stream=stream)
        assert response.status_code == expected
        error = response.get_json()["error"]
        assert "expired or were refused" in error["message"]
        assert "COOKIES" in error["message"]


@pytest.mark.parametrize(
    "status, headers",
    [
        (403, {"cf-mitigated": "challenge"}),
        (503, {"Server": "cloudflare"}),
    ],
)
def test_cloudflare_challenge_is_a_403(client, upstream, status, headers):
    upstream.add(
        responses.POST,
        UPSTREAM,
        status=status,
        headers=headers,
        content_type="text/html",
        body=LOGIN_PAGE,
    )
    response = chat(client)
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "t3chat_challenge" and "Cloudflare" in error["message"]


def test_rate_limit_keeps_retry_after(client, upstream):
    upstream.add(
        responses.POST,
        UPSTREAM,
        status=429,
        headers={"Retry-After": "7"},
        json={"error": "Too many requests"},
    )
    response = chat(client, stream=True)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.get_json()["error"]["code"] == "rate_limit_exceeded"


def test_upstream_5xx_is_a_502(client, upstream):
    upstream.add(responses.POST, UPSTREAM, status=500, body=b"<html>oops</html>")
    response = chat(client)
    assert response.status_code == 502
    assert "oops" not in response.get_json()["error"]["message"]


def test_upstream_4xx_keeps_status_and_a_scrubbed_message(client, upstream):
    upstream.add(
        responses.POST, UPSTREAM, status=400, json={"error": f"Invalid session {SESSION_ID}"}
    )
    response = chat(client)
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert message == "t3.chat answered HTTP 400: Invalid session [redacted]"


def test_unreachable_upstream_is_a_502(client, upstream):
    upstream.add(responses.POST, UPSTREAM, body=requests.ConnectionError("refused"))
    response = chat(client)
    assert response.status_code == 502
    assert response.get_json()["error"]["code"] == "upstream_unreachable"


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"Hello there, this is not a stream at all.\n", "could not parse"),
        (b'{"ok": true}', "could not parse"),
        (b"", "empty response"),
        (b'0:"Hel', "middle of a message"),
        (b'0:"Hello"\n', "before the answer finished"),
    ],
)
def test_unparseable_answers_are_a_502_without_excerpts(client, upstream, body, fragment):
    upstream.add(responses.POST, UPSTREAM, body=body, content_type="text/plain")
    response = chat(client)
    assert response.status_code == 502
    message = response.get_json()["error"]["message"]
    assert fragment in message
    assert "Hello" not in message and "stream at all" not in message


@pytest.mark.parametrize(
    "raw",
    [
        b'0:"Partial"\n3:"The model is overloaded"\n',
        b'data: {"type":"text-delta","delta":"Partial"}\n\n'
        b'data: {"type":"error","errorText":"The model is overloaded"}\n\n',
    ],
    ids=["data-stream", "sse"],
)
def test_mid_stream_error_becomes_an_error_event(client, upstream, raw):
    upstream.add(responses.POST, UPSTREAM, body=raw)
    response = chat(client, stream=True)
    assert response.status_code == 200
    payloads = sse_payloads(response)
    assert json.loads(payloads[1])["choices"][0]["delta"]["content"] == "Partial"
    error = json.loads(payloads[-1])["error"]
    assert error["message"] == "t3.chat reported an error: The model is overloaded"
    assert error["type"] == "server_error"
    assert "[DONE]" not in payloads
    # Without streaming the same answer is one JSON error.
    upstream.add(responses.POST, UPSTREAM, body=raw)
    response = chat(client)
    assert response.status_code == 502
    assert response.get_json()["error"]["message"].endswith("The model is overloaded")


def test_error_before_any_text_is_a_plain_json_error(client, upstream):
    upstream.add(responses.POST, UPSTREAM, body=b'3:"Model not available"\n')
    response = chat(client, stream=True)
    assert response.status_code == 502
    assert response.mimetype == "application/json"


def test_credentials_never_reach_logs_or_responses(client, upstream, caplog):
    caplog.set_level(logging.DEBUG)
    cases = [
        dict(body=RECORDED_DATA_STREAM),
        dict(status=401, json={"error": f"bad cookie {COOKIES}"}),
        dict(status=400, json={"error": f"bad session {SESSION_ID} / clear:ance-0042"}),
        dict(status=403, headers={"cf-mitigated": "challenge"}, body=LOGIN_PAGE),
        dict(body=f'0:"x"\n3:"session {SESSION_ID} refused for {COOKIES}"\n'.encode()),
        dict(body=b"garbage " + COOKIES.encode()),
        dict(body=requests.ConnectionError(f"failed with {COOKIES}")),
    ]
    seen = []
    for case in cases:
        for stream in (False, True):
            upstream.add(responses.POST, UPSTREAM, **case)
            response = chat(client, stream=stream)
            seen.append(response.get_data(as_text=True))
            seen.append(str(dict(response.headers)))
    seen.append(caplog.text)
    seen.extend(str(record.args) for record in caplog.records)
    for text in seen:
        for secret in SECRETS:
            assert secret not in text
    assert len(upstream.calls) == 2 * len(cases)
