"""The keys file: hashed and env keys, clear start-up errors, model allow-lists, /v1/models."""

from __future__ import annotations

import pytest

from app import create_app
from app.errors import UpstreamError
from app.keys import KeysFileError, load_keys_file
from tests.support.openai_checks import check_error, check_model, check_model_list
from tests.unit.keys_helpers import (
    CHAT,
    COMPLETION,
    EMBEDDING,
    ENDPOINTS,
    get,
    post,
    sha256_hex,
    write_keys_file,
)

HASHED, FROM_ENV, PLAIN = "sk-team-a-0b7c1d", "sk-ci-from-env-93ad", "sk-plain-list-55e1"
ENV_NAME = "TEST_GATEWAY_CI_KEY"
MODELS = {
    "backends": {"mock": {"type": "mock"}, "broken": {"type": "mock"}},
    "models": [
        {"id": "mock", "backend": "mock"},
        {"id": "gpt-4o", "backend": "mock"},
        {"id": "gpt-4o-mini", "backend": "mock"},
        {"id": "text-embedding-3-small", "backend": "mock"},
        {"id": "mock/*", "backend": "mock", "strip_prefix": "mock/"},
        {"id": "primary", "backend": "broken", "fallbacks": ["mock"]},
    ],
}
ENTRIES = [
    {
        "name": "team-a",
        "key_sha256": sha256_hex(HASHED),
        "models": ["gpt-4o", "text-embedding-3-small", "mock/*", "primary"],
    },
    {"name": "ci", "key_env": ENV_NAME, "rpm": 5, "tpm": 1000},
]


@pytest.fixture
def config(config, tmp_path, monkeypatch):
    """One plain key, and a keys file with a hashed key (allow-list) and an env key."""
    monkeypatch.setenv(ENV_NAME, FROM_ENV)
    return {
        **config,
        "MODELS": MODELS,
        "GATEWAY_API_KEYS": [PLAIN],
        "KEYS_FILE": write_keys_file(tmp_path, ENTRIES),
    }


def test_file_entries_are_parsed_without_keeping_secrets(config):
    team, ci = load_keys_file(config["KEYS_FILE"])
    assert (team.name, team.digest.hex(), team.models) == (
        "team-a",
        sha256_hex(HASHED),
        ("gpt-4o", "text-embedding-3-small", "mock/*", "primary"),
    )
    assert (team.rpm, team.tpm) == (None, None)
    assert (ci.name, ci.digest.hex(), ci.models, ci.rpm, ci.tpm) == (
        "ci",
        sha256_hex(FROM_ENV),
        None,
        5,
        1000,
    )


@pytest.mark.parametrize("key", [HASHED, FROM_ENV, PLAIN])
def test_every_kind_of_key_is_accepted(client, key):
    assert post(client, "/v1/chat/completions", {**CHAT, "model": "gpt-4o"}, key).status_code == 200


def test_unknown_key_is_still_401(client):
    response = post(client, "/v1/chat/completions", CHAT, "sk-not-in-the-file")
    assert response.status_code == 401
    assert check_error(response.get_json(), 401).code == "invalid_api_key"


BAD_FILES = [
    ("keys: [", "not valid YAML"),
    ({"clients": []}, "`keys:` list"),
    ([{"name": "a", "key": "sk-plain-in-file"}], "plain keys do not belong"),
    ([{"name": "a"}], "exactly one of key_sha256 and key_env"),
    ([{"name": "a", "key_sha256": "ab", "key_env": "X"}], "exactly one of"),
    ([{"name": "a", "key_sha256": "xyz"}], "64 hexadecimal"),
    ([{"name": "a", "key_env": "TEST_GATEWAY_UNSET_KEY"}], "TEST_GATEWAY_UNSET_KEY is not set"),
    ([{"name": "a", "key_sha256": sha256_hex("k"), "rpn": 5}], "unknown field(s) rpn"),
    ([{"name": "a", "key_sha256": sha256_hex("k"), "models": []}], "non-empty list"),
    ([{"name": "a", "key_sha256": sha256_hex("k"), "models": "gpt-4o"}], "non-empty list"),
    ([{"name": "a", "key_sha256": sha256_hex("k"), "rpm": -1}], "`rpm` must be a whole number"),
    ([{"name": "a", "key_sha256": sha256_hex("k"), "tpm": "lots"}], "`tpm` must be"),
    ([{"key_sha256": sha256_hex("k")}], "`name` must be"),
    (["just-a-string"], "must be a mapping"),
    (
        [
            {"name": "a", "key_sha256": sha256_hex("k")},
            {"name": "a", "key_sha256": sha256_hex("j")},
        ],
        "name `a` is used twice",
    ),
    ([{"name": "key-1", "key_sha256": sha256_hex("k")}], "name `key-1` is used twice"),
    ([{"name": "b", "key_sha256": sha256_hex(PLAIN)}], "`key-1` and `b` are the same key"),
]


@pytest.mark.parametrize(("data", "message"), BAD_FILES)
def test_bad_file_stops_the_start_with_a_clear_error(config, tmp_path, data, message):
    config["KEYS_FILE"] = write_keys_file(tmp_path, data)
    with pytest.raises(KeysFileError) as caught:
        create_app(config)
    assert message in str(caught.value)
    # Every error says where the keys came from (the file, with GATEWAY_API_KEYS for repeats).
    assert config["KEYS_FILE"] in str(caught.value)


def test_entry_errors_name_the_file_and_the_entry(config, tmp_path):
    entries = [ENTRIES[0], {"name": "broken", "key_sha256": "00"}]
    config["KEYS_FILE"] = write_keys_file(tmp_path, entries)
    with pytest.raises(KeysFileError) as caught:
        create_app(config)
    assert str(caught.value).startswith(f"keys file {config['KEYS_FILE']}: keys[1] (broken): ")


def test_missing_file_names_the_path(config, tmp_path):
    config["KEYS_FILE"] = str(tmp_path / "absent.yaml")
    with pytest.raises(KeysFileError, match="absent.yaml: cannot be read"):
        create_app(config)


def test_errors_never_show_the_env_key(config, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_GATEWAY_OTHER", FROM_ENV)
    entries = [*ENTRIES, {"name": "copy", "key_env": "TEST_GATEWAY_OTHER"}]
    config["KEYS_FILE"] = write_keys_file(tmp_path, entries)
    with pytest.raises(KeysFileError) as caught:
        create_app(config)
    assert "`ci` and `copy` are the same key" in str(caught.value)
    assert FROM_ENV not in str(caught.value)


@pytest.mark.parametrize(("path", "body"), ENDPOINTS)
@pytest.mark.parametrize("prefix", ["", "/v1"])
def test_denied_model_is_403_before_any_backend_call(app, client, monkeypatch, path, body, prefix):
    def must_not_run(call):
        raise AssertionError("the backend was called for a denied model")

    backend = app.extensions["gateway.backends"]["mock"]
    for operation in ("chat", "completion", "embeddings"):
        monkeypatch.setattr(backend, operation, must_not_run)
    response = post(client, prefix + path.removeprefix("/v1"), {**body, "model": "mock"}, HASHED)
    assert response.status_code == 403
    error = check_error(response.get_json(), 403)
    assert (error.type, error.code, error.param) == (
        "invalid_request_error",
        "model_not_allowed",
        "model",
    )
    assert "`mock`" in error.message and HASHED not in error.message


@pytest.mark.parametrize(
    ("path", "body", "model"),
    [
        ("/v1/chat/completions", CHAT, "gpt-4o"),
        ("/v1/chat/completions", CHAT, "mock/anything"),
        ("/v1/completions", COMPLETION, "gpt-4o"),
        ("/v1/completions", COMPLETION, "mock/anything"),
        ("/v1/embeddings", EMBEDDING, "text-embedding-3-small"),
        ("/v1/embeddings", EMBEDDING, "mock/text-embedding-3-small"),
    ],
)
def test_allowed_ids_and_patterns_pass(client, path, body, model):
    response = post(client, path, {**body, "model": model}, HASHED)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_allow_list_is_for_the_requested_model_not_its_fallbacks(app, client, monkeypatch):
    def unavailable(call):
        raise UpstreamError("upstream down", status=503, retryable=True)

    monkeypatch.setattr(app.extensions["gateway.backends"]["broken"], "chat", unavailable)
    response = post(client, "/v1/chat/completions", {**CHAT, "model": "primary"}, HASHED)
    assert response.status_code == 200
    assert response.headers["x-gateway-backend"] == "mock/mock"


def test_bad_body_is_still_a_400_for_a_key_with_an_allow_list(client):
    response = post(client, "/v1/chat/completions", {"model": 5, "messages": []}, HASHED)
    assert response.status_code == 400
    assert check_error(response.get_json(), 400).param == "model"


@pytest.mark.parametrize("content_type", ["text/plain+json", "application/json; charset=utf-8"])
def test_a_denied_model_is_refused_under_any_json_content_type(client, content_type):
    # The key check reads the body as the view does: a type the view serves is checked too.
    body = {**CHAT, "model": "mock"}
    headers = {"Authorization": f"Bearer {HASHED}", "Content-Type": content_type}
    response = client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 403
    assert check_error(response.get_json(), 403).code == "model_not_allowed"


def test_models_list_shows_only_allowed_models(client):
    body = get(client, "/v1/models", HASHED).get_json()
    check_model_list(body)
    assert [model["id"] for model in body["data"]] == [
        "gpt-4o",
        "text-embedding-3-small",
        "primary",
    ]
    everything = get(client, "/v1/models", PLAIN).get_json()
    assert [m["id"] for m in everything["data"]] == [
        "mock",
        "gpt-4o",
        "gpt-4o-mini",
        "text-embedding-3-small",
        "primary",
    ]


def test_retrieving_a_denied_model_is_404(client):
    response = get(client, "/v1/models/gpt-4o-mini", HASHED)
    assert response.status_code == 404
    assert check_error(response.get_json(), 404).code == "model_not_found"
    check_model(get(client, "/v1/models/gpt-4o", HASHED).get_json())
    assert get(client, "/v1/models/gpt-4o-mini", FROM_ENV).status_code == 200
