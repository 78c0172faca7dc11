"""Anthropic backend: json_schema response formats the structured outputs cannot take (malformed
keyword values, no schema) through the gateway, and the backend options that replace what the
upstream model id says about thinking and structured outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from app import create_app
from tests.fakes.anthropic_wire import gateway_models, message
from tests.support import anthropic_requests
from tests.support.anthropic_requests import BASE
from tests.support.openai_checks import check_invalid_param

config = anthropic_requests.config
upstream = anthropic_requests.upstream

SONNET = "claude-sonnet-4-5"
HI = [{"role": "user", "content": "Hi"}]
MALFORMED = {
    "format": {"type": "object", "properties": {"a": {"type": "string", "format": ["date"]}}},
    "format object": {"type": "object", "properties": {"a": {"type": "string", "format": {}}}},
    "required 5": {"type": "object", "properties": {"a": {"type": "string"}}, "required": 5},
    "required true": {"type": "object", "properties": {"a": {"type": "string"}}, "required": True},
    "required objects": {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": [{"x": 1}],
    },
}


def schema_format(schema: Any = None) -> dict[str, Any]:
    spec = {"name": "answer"} if schema is None else {"name": "answer", "schema": schema}
    return {"type": "json_schema", "json_schema": spec}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_schema_goes_to_the_forced_tool(client, upstream, name):
    response = client.post(
        "/v1/chat/completions",
        json={"model": SONNET, "messages": HI, "response_format": schema_format(MALFORMED[name])},
    )
    assert response.status_code == 200, response.get_json()
    sent = json.loads(upstream.calls[-1].request.body)
    assert "output_config" not in sent
    assert sent["tool_choice"] == {"type": "tool", "name": "answer"}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_schema_with_reasoning_effort_is_a_400(client, name):
    body = {
        "model": SONNET,
        "messages": HI,
        "reasoning_effort": "low",
        "response_format": schema_format(MALFORMED[name]),
    }
    with responses.RequestsMock():
        response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = check_invalid_param(response.get_json(), "response_format")
    assert error.code == "unsupported_value"
    assert f"`{name.split()[0]}` is not" in error.message


def test_json_schema_without_a_schema_and_reasoning_effort_says_so(client):
    body = {"model": SONNET, "messages": HI, "reasoning_effort": "low"}
    with responses.RequestsMock():
        response = client.post(
            "/v1/chat/completions", json={**body, "response_format": schema_format()}
        )
    assert response.status_code == 400
    error = check_invalid_param(response.get_json(), "response_format.json_schema.schema")
    assert error.code == "unsupported_value"
    assert "is missing" in error.message and "not an object" not in error.message


def sent_with(config, options: dict[str, Any], **body: Any) -> dict[str, Any]:
    """The Messages request a gateway whose backend has `options` sends for `body`."""
    models = gateway_models(BASE, "TEST_ANTHROPIC_KEY", **options)
    client = create_app({**config, "MODELS": models}).test_client()
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/v1/messages", json=message([{"type": "text", "text": "Hi"}]))
        response = client.post("/v1/chat/completions", json={"messages": HI, **body})
        assert response.status_code == 200, response.get_json()
        return json.loads(mock.calls[-1].request.body)


@pytest.mark.parametrize(
    ("option", "thinking"),
    [
        ("budget", {"type": "enabled", "budget_tokens": 2048}),
        ("adaptive", {"type": "adaptive"}),
        (None, {"type": "adaptive"}),
    ],
)
def test_the_thinking_option_replaces_what_an_unknown_model_id_says(config, option, thinking):
    sent = sent_with(config, {"thinking": option}, model="claude-proxy-s45", reasoning_effort="low")
    assert sent["thinking"] == thinking


def test_thinking_none_sends_no_thinking_whatever_the_model(config):
    options = {"thinking": "none"}
    sent = sent_with(config, options, model=SONNET, reasoning_effort="high")
    assert "thinking" not in sent


@pytest.mark.parametrize(
    ("option", "model", "native"),
    [("tool", SONNET, False), ("native", "claude-3-haiku", True), (None, "claude-proxy-x", True)],
)
def test_the_structured_outputs_option_replaces_what_the_model_id_says(
    config, option, model, native
):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    options = {"structured_outputs": option}
    sent = sent_with(config, options, model=model, response_format=schema_format(schema))
    assert ("output_config" in sent) is native
    assert ("tool_choice" in sent) is not native


@pytest.mark.parametrize(
    "options", [{"thinking": "enabled"}, {"thinking": True}, {"structured_outputs": "json"}]
)
def test_an_unknown_option_value_names_the_backend(config, options):
    with pytest.raises(ValueError, match="backend `claude`"):
        create_app({**config, "MODELS": gateway_models(BASE, "TEST_ANTHROPIC_KEY", **options)})
