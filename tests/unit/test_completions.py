"""Legacy `/v1/completions`: the request schema, and forwarding to native completions APIs."""

from __future__ import annotations

import pytest

from app.backends import BACKEND_TYPES, Backend, Call
from app.backends.base import Result
from app.schemas.completions import CompletionRequestSchema
from tests.support.openai_checks import check_error


def complete(client, **body):
    return client.post("/v1/completions", json={"model": "mock", **body})


# -- schema ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "Say hi"},
        {"prompt": ""},
        {"prompt": None},
        {"prompt": ["a", "b"]},
        {"prompt": [9906, 1917]},
        {"prompt": [[9906], [1917, 0]]},
        {"prompt": "x", "max_tokens": 0, "echo": True},
        {"prompt": "x", "n": 2, "best_of": 3, "stop": ["a", "b", "c", "d"]},
        {"prompt": "x", "stream": True, "best_of": 1, "stream_options": {"include_usage": True}},
        {"prompt": "x", "temperature": 2, "top_p": 0, "presence_penalty": -2, "seed": -1},
        {"prompt": "x", "logit_bias": {"50256": -100}, "user": "u-1", "stop": None},
    ],
)
def test_valid_requests_are_accepted(client, body):
    response = complete(client, **body)
    assert response.status_code == 200, response.json


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "prompt"),
        ({"prompt": []}, "prompt"),
        ({"prompt": 5}, "prompt"),
        ({"prompt": {"text": "x"}}, "prompt"),
        ({"prompt": ["a", 1]}, "prompt[1]"),
        ({"prompt": [1, "a"]}, "prompt[1]"),
        ({"prompt": [1, -2]}, "prompt[1]"),
        ({"prompt": [True]}, "prompt[0]"),
        ({"prompt": [[1], []]}, "prompt[1]"),
        ({"prompt": [[1], [2, 1.5]]}, "prompt[1][1]"),
        ({"prompt": [[1], "a"]}, "prompt[1]"),
        ({"prompt": ["a"] * 2049}, "prompt"),
        ({"prompt": "x", "max_tokens": -1}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 1.0}, "max_tokens"),
        ({"prompt": "x", "logprobs": 6}, "logprobs"),
        ({"prompt": "x", "n": 0}, "n"),
        ({"prompt": "x", "n": 17}, "n"),
        ({"prompt": "x", "n": 3, "best_of": 2}, "best_of"),
        ({"prompt": "x", "best_of": 21}, "best_of"),
        ({"prompt": "x", "stream": True, "best_of": 2, "n": 1}, "best_of"),
        ({"prompt": "x", "stream_options": {"include_usage": True}}, "stream_options"),
        (
            {"prompt": "x", "stream": True, "stream_options": {"include_usage": 1}},
            "stream_options.include_usage",
        ),
        ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"prompt": "x", "stop": []}, "stop"),
        ({"prompt": "x", "stop": ["a", 3]}, "stop[1]"),
        ({"prompt": "x", "temperature": 2.5}, "temperature"),
        ({"prompt": "x", "top_p": "1"}, "top_p"),
        ({"prompt": "x", "frequency_penalty": -3}, "frequency_penalty"),
        ({"prompt": "x", "logit_bias": {"50256": 101}}, "logit_bias.50256"),
        ({"prompt": "x", "logit_bias": {"abc": 1}}, "logit_bias"),
        ({"prompt": "x", "echo": "yes"}, "echo"),
        ({"prompt": "x", "suffix": 3}, "suffix"),
        ({"prompt": "x", "user": 3}, "user"),
        ({"prompt": "x", "user": None}, "user"),
    ],
)
def test_invalid_requests_name_the_param(client, body, param):
    response = complete(client, **body)
    assert response.status_code == 400
    error = response.json["error"]
    check_error(response.json, 400)
    assert error["param"] == param
    assert f"'{param}'" in error["message"]


@pytest.mark.parametrize("body", [{"prompt": "x"}, {}, {"prompt": 5, "n": 0}])
def test_missing_model_is_openais_400(client, body):
    response = client.post("/v1/completions", json=body)
    assert response.status_code == 400
    assert response.json == {
        "error": {
            "message": "you must provide a model parameter",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_n_limit_follows_gateway_max_n(config):
    from app import create_app

    client = create_app({**config, "GATEWAY_MAX_N": 2}).test_client()
    assert complete(client, prompt="x", n=2).status_code == 200
    assert complete(client, prompt="x", n=3).json["error"]["param"] == "n"


def test_schema_keeps_unknown_fields_and_adds_no_defaults():
    body = CompletionRequestSchema().load({"model": "m", "prompt": "x", "top_k": 5})
    assert body == {"model": "m", "prompt": "x", "top_k": 5}


# -- forwarding to a backend with its own completions API ------------------------------


class RecordingBackend(Backend):
    """Serves completions natively and remembers what it was sent."""

    calls: list[Call] = []

    def completion(self, call: Call) -> Result:
        RecordingBackend.calls.append(call)
        return {
            "id": "cmpl-up",
            "object": "text_completion",
            "created": 1,
            "model": call.model,
            "choices": [{"text": "ok", "index": 0, "logprobs": None, "finish_reason": "stop"}],
        }


@pytest.fixture
def recording_client(monkeypatch, config):
    from app import create_app

    monkeypatch.setitem(BACKEND_TYPES, "recording", f"{__name__}:RecordingBackend")
    RecordingBackend.calls = []
    models = {
        "backends": {"up": {"type": "recording"}},
        "models": [{"id": "instruct", "backend": "up", "model": "upstream-instruct"}],
    }
    return create_app({**config, "MODELS": models}).test_client()


def test_native_backends_get_the_body_as_sent(recording_client):
    body = {"model": "instruct", "prompt": [[1, 2]], "suffix": "s", "logprobs": 2, "top_k": 3}
    response = recording_client.post("/completions", json=body)
    assert response.status_code == 200
    assert response.json["choices"][0]["text"] == "ok"
    (call,) = RecordingBackend.calls
    assert call.body == body
    assert call.route.upstream_model == "upstream-instruct"
