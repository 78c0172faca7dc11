"""Models, bad requests and client keys through the official openai SDK."""

from __future__ import annotations

import base64
import json

import openai
import pytest

from tests.conftest import CLIENT_KEY

pytestmark = pytest.mark.slow

PROMPT = [{"role": "user", "content": "hi"}]


def basic(key: str) -> str:
    """`Authorization: Basic` with `key` as the password and a blank username."""
    return "Basic " + base64.b64encode(f":{key}".encode()).decode()


def test_models_list_and_retrieve(sdk):
    ids = [model.id for model in sdk.models.list()]
    assert {"gpt-4o", "mock"} <= set(ids)
    assert not any("*" in model_id for model_id in ids), "patterns are not models"
    model = sdk.models.retrieve("gpt-4o")
    assert model.id == "gpt-4o" and model.object == "model" and model.owned_by


def test_retrieve_unknown_model(sdk):
    with pytest.raises(openai.NotFoundError) as info:
        sdk.models.retrieve("no-such-model")
    assert info.value.status_code == 404
    assert info.value.code == "model_not_found"


def test_chat_with_unknown_model(sdk):
    with pytest.raises(openai.NotFoundError) as info:
        sdk.chat.completions.create(model="no-such-model", messages=PROMPT)
    assert info.value.code == "model_not_found" and info.value.param is None


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"temperature": 5}, "temperature"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
        ({"messages": [PROMPT[0], {"role": "user"}]}, "messages[1].content"),
        ({"messages": []}, "messages"),
        ({"n": 0}, "n"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": "ten"}, "max_tokens"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_request_names_its_param(sdk, changes, param):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(**{"model": "gpt-4o", "messages": PROMPT, **changes})
    assert info.value.status_code == 400
    assert info.value.param == param, info.value.message
    assert info.value.type == "invalid_request_error"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_bad_stream_request_is_a_json_error_not_a_stream(sdk, recorder, stream):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="gpt-4o", messages=PROMPT, temperature=-1, stream=stream)
    assert info.value.param == "temperature"
    assert recorder.exchanges[-1].headers["content-type"].startswith("application/json")


def test_wrong_key_is_refused_without_echoing_it(make_sdk, recorder):
    secret = "sk-wrong-key-0123456789"
    client = make_sdk(api_key=secret)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="gpt-4o", messages=PROMPT)
    assert info.value.status_code == 401 and info.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert all(secret not in bytes(exchange.body).decode() for exchange in recorder.exchanges)


def test_missing_key_is_refused(sdk, recorder):
    with pytest.raises(openai.AuthenticationError) as info:
        sdk.models.list(extra_headers={"Authorization": openai.omit})
    assert info.value.status_code == 401
    assert (info.value.code, info.value.param, info.value.type) == (
        None,
        None,
        "invalid_request_error",
    )
    message = json.loads(recorder.exchanges[-1].body)["error"]["message"]
    assert message.startswith("You didn't provide an API key.") and "password field" in message


def test_basic_auth_with_the_key_as_password(make_sdk):
    client = make_sdk(api_key="unused", default_headers={"Authorization": basic(CLIENT_KEY)})
    assert "mock" in {model.id for model in client.models.list()}
    wrong = make_sdk(api_key="unused", default_headers={"Authorization": basic("sk-wrong-0123")})
    with pytest.raises(openai.AuthenticationError) as info:
        wrong.models.list()
    assert info.value.status_code == 401 and info.value.code == "invalid_api_key"


@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_url_is_not_found(sdk, method):
    options = {"body": {"model": "gpt-4o"}} if method == "post" else {}
    with pytest.raises(openai.NotFoundError) as info:
        getattr(sdk, method)("/no-such-endpoint", cast_to=object, **options)
    assert info.value.status_code == 404 and info.value.code is None
    assert info.value.message.endswith(f"Invalid URL ({method.upper()} /v1/no-such-endpoint)")


def test_unparseable_json_is_a_bad_request(gateway_server):
    # Not through the recording transport: it reads every request body as JSON.
    sdk = openai.OpenAI(base_url=f"{gateway_server.url}/v1", api_key=CLIENT_KEY, max_retries=0)
    with sdk, pytest.raises(openai.BadRequestError) as info:
        sdk.post(
            "/chat/completions",
            cast_to=object,
            content=b'{"model": "gpt-4o",',
            options={"headers": {"Content-Type": "application/json"}},
        )
    assert (info.value.code, info.value.param) == (None, None)
    assert "We could not parse the JSON body of your request." in info.value.message


@pytest.mark.parametrize("path", ["/chat/completions", "/completions"])
def test_missing_model_is_a_bad_request(sdk, path):
    body = {"messages": PROMPT} if path == "/chat/completions" else {"prompt": "hi"}
    with pytest.raises(openai.BadRequestError) as info:
        sdk.post(path, cast_to=object, body=body)
    assert (info.value.code, info.value.param) == (None, None)
    assert info.value.message.endswith("you must provide a model parameter")
