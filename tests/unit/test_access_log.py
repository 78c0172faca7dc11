"""Request log: one line per request on stdout, with names and timings but never a key."""

from __future__ import annotations

import json
import logging

import pytest

from app import access_log, create_app, observe
from tests.unit.keys_helpers import sha256_hex, write_keys_file

CLIENT_SECRET = "sk-unit-log-recognisable-secret"
CHAT = "/v1/chat/completions"
FIELDS = {
    "time",
    "request_id",
    "method",
    "path",
    "status",
    "stream",
    "stream_error",
    "client_left",
    "key_name",
    "model",
    "backend",
    "upstream_model",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "client",
}


@pytest.fixture
def config(config):
    """The test config with one client key."""
    return {**config, "GATEWAY_API_KEYS": [CLIENT_SECRET]}


def post(client, body: dict, **headers: str):
    """POST a chat request with the key and read it to its end."""
    response = client.post(
        CHAT, json=body, headers={"Authorization": f"Bearer {CLIENT_SECRET}", **headers}
    )
    response.get_data()
    response.close()
    return response


def lines(capsys) -> list[str]:
    """The request log lines written so far."""
    return [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_one_json_line_per_request_with_names_and_no_key(client, capsys):
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hi"}]}
    response = post(client, body, **{"X-Request-ID": "log-test-1"})
    assert response.headers["X-Request-ID"] == "log-test-1"
    [line] = lines(capsys)
    entry = json.loads(line)
    assert set(entry) == FIELDS
    assert entry["request_id"] == "log-test-1"
    assert (entry["method"], entry["path"], entry["status"]) == ("POST", CHAT, 200)
    assert (entry["key_name"], entry["model"], entry["backend"]) == ("key-1", "gpt-4o", "mock")
    assert entry["stream"] is False and entry["ttft_ms"] is None
    assert entry["latency_ms"] >= 0
    assert entry["prompt_tokens"] > 0 and entry["completion_tokens"] > 0
    assert CLIENT_SECRET not in line


def test_stream_is_logged_when_it_ends(client, capsys):
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Say hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    post(client, body)
    [line] = lines(capsys)
    entry = json.loads(line)
    assert entry["stream"] is True and entry["stream_error"] is None
    assert entry["client_left"] is None
    assert entry["ttft_ms"] is not None and entry["ttft_ms"] <= entry["latency_ms"]
    assert entry["completion_tokens"] > 0


def test_a_stream_its_client_leaves_is_logged_as_left(client, capsys):
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hi"}], "stream": True}
    headers = {"Authorization": f"Bearer {CLIENT_SECRET}"}
    response = client.post(CHAT, json=body, headers=headers, buffered=False)
    assert next(response.iter_encoded()).startswith(b"data: ")
    response.close()
    [line] = lines(capsys)
    entry = json.loads(line)
    assert (entry["status"], entry["stream_error"], entry["client_left"]) == (200, None, True)


def test_errors_and_bad_request_ids_are_logged_safely(client, capsys):
    forged = 'bad id" {"status":200}'
    response = client.get(
        "/v1/models?api_key=sk-in-a-query", headers={"X-Request-ID": forged, "Authorization": "x"}
    )
    response.close()
    [line] = lines(capsys)
    entry = json.loads(line)
    assert entry["status"] == 401 and entry["key_name"] is None
    # The forged id is replaced; the query string is never logged.
    assert entry["request_id"] == response.headers["X-Request-ID"] != forged
    assert entry["path"] == "/v1/models" and "sk-in-a-query" not in line


@pytest.fixture
def limited_client(config, tmp_path):
    """An app whose only key allows `gpt-4o` alone, at one request a minute."""
    entry = {"name": "limited", "key_sha256": sha256_hex(CLIENT_SECRET), "models": ["gpt-4o"]}
    keys_file = write_keys_file(tmp_path, [{**entry, "rpm": 1}])
    return create_app({**config, "GATEWAY_API_KEYS": [], "KEYS_FILE": keys_file}).test_client()


def test_a_rate_limited_request_logs_its_model(limited_client, capsys):
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert post(limited_client, body).status_code == 200
    assert post(limited_client, body).status_code == 429
    refused = json.loads(lines(capsys)[-1])
    assert (refused["status"], refused["key_name"]) == (429, "limited")
    assert refused["model"] == "gpt-4o" and refused["backend"] is None


def test_a_model_the_key_may_not_use_is_logged_cut_to_length(limited_client, capsys):
    assert post(limited_client, {"model": "gpt-4o-mini", "messages": []}).status_code == 403
    long_name = "m" * 5000
    assert post(limited_client, {"model": long_name, "messages": []}).status_code == 403
    first, second = (json.loads(line) for line in lines(capsys))
    assert (first["status"], first["model"]) == (403, "gpt-4o-mini")
    assert second["model"] == long_name[: access_log._MAX_TEXT]


def test_text_format(config, capsys):
    client = create_app({**config, "LOG_FORMAT": "text"}).test_client()
    post(client, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    [line] = lines(capsys)
    assert line.startswith("time=") and " status=200 " in line and " key_name=key-1 " in line
    assert " stream=false " in line and "ttft_ms" not in line
    assert access_log.format_text({"model": 'a "b"', "n": 3}) == 'model="a \\"b\\"" n=3'


def test_unknown_format_stops_start_up(config):
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        create_app({**config, "LOG_FORMAT": "xml"})


def test_several_apps_share_one_handler(config, capsys):
    for _ in range(3):
        client = create_app(config).test_client()
    client.get("/health").close()
    assert len(lines(capsys)) == 1
    logger = logging.getLogger(access_log.LOGGER_NAME)
    assert sum(isinstance(h, access_log.StdoutHandler) for h in logger.handlers) == 1
    assert logger.propagate is False


@pytest.mark.parametrize("stream", [False, True])
def test_a_key_sent_as_the_model_is_never_logged_even_in_part(config, capsys, stream):
    # A pattern route accepts any name; the key starts near the 200-character cut.
    models = {
        "backends": {"mock": {"type": "mock"}},
        "models": [{"id": "any/*", "backend": "mock", "strip_prefix": "any/"}],
    }
    client = create_app({**config, "MODELS": models}).test_client()
    model = "any/" + "x" * 180 + CLIENT_SECRET
    body = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "stream": stream}
    assert post(client, body).status_code == 200
    [line] = lines(capsys)
    assert json.loads(line)["model"].startswith("any/xxx")
    for start in range(len(CLIENT_SECRET) - 8):
        assert CLIENT_SECRET[start : start + 8] not in line


@pytest.mark.parametrize("bad", [3.5, "12", -1, True, None])
def test_only_whole_token_counts_are_recorded(bad):
    # An upstream's odd usage must not reach the token limits, the log or the metrics.
    exchange = observe.Exchange("req_1", "/v1/chat/completions")
    exchange.record_usage({"prompt_tokens": 7, "completion_tokens": 2})
    exchange.record_usage({"prompt_tokens": bad, "completion_tokens": bad})
    assert (exchange.prompt_tokens, exchange.completion_tokens) == (7, 2)
