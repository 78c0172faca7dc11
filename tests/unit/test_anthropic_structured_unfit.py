"""Anthropic backend: json_schema response formats that are malformed (a 400 before anything is
sent) or that the structured outputs cannot take (no schema) through the gateway, and the backend
options that replace what the upstream model id says about thinking and structured outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from app import create_app
from tests.fakes.anthropic_wire import gateway_models, message
from tests.support import anthropic_requests
from tests.support.anthropic_requests import BASE
from tests.support.openai_checks import check_error, check_invalid_param

config = anthropic_requests.config
upstream = anthropic_requests.upstream

SONNET = "claude-sonnet-4-5"
# Thinks, but has no structured outputs: its json_schema goes to a forced tool.
SONNET_4 = "claude-sonnet-4-20250514"
HI = [{"role": "user", "content": "Hi"}]
STRING = {"type": "string"}
# Name → (a schema that is not valid JSON Schema, the path and problem the 400 names).
MALFORMED = {
    "format list": (
        {"type": "object", "properties": {"a": {"type": "string", "format": ["date"]}}},
        "'#/properties/a/format' must be a string, not a list",
    ),
    "format object": (
        {"type": "object", "properties": {"a": {"type": "string", "format": {}}}},
        "'#/properties/a/format' must be a string, not an object",
    ),
    "required 5": (
        {"type": "object", "properties": {"a": STRING}, "required": 5},
        "'#/required' must be a list of property names (strings), not a number",
    ),
    "required objects": (
        {"type": "object", "properties": {"a": STRING}, "required": [{"x": 1}]},
        "'#/required' must be a list of property names (strings), not a list",
    ),
    "type text": (
        {"type": "object", "properties": {"a": {"type": "text"}}},
        "'#/properties/a/type' must be a JSON type name or a non-empty list of them, "
        "not the string 'text'",
    ),
    "empty anyOf": (
        {"type": "object", "properties": {"a": {"anyOf": []}}},
        "'#/properties/a/anyOf' must be a non-empty list of schemas, not an empty list",
    ),
    "properties 3": (
        {"type": "object", "properties": 3},
        "'#/properties' must be an object of schemas, not a number",
    ),
}
# (model, reasoning_effort): the native format, the forced tool, each with and without thinking,
# and a model that cannot think.
PATHS = [
    (SONNET, None),
    (SONNET, "low"),
    (SONNET_4, None),
    (SONNET_4, "low"),
    ("claude-3-haiku", "low"),
]


def schema_format(schema: Any = None) -> dict[str, Any]:
    spec = {"name": "answer"} if schema is None else {"name": "answer", "schema": schema}
    return {"type": "json_schema", "json_schema": spec}


@pytest.fixture
def answering():
    """A Messages API that would answer; the tests check that it is never asked."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{BASE}/v1/messages", json=message([{"type": "text", "text": "{}"}]))
        yield mock


@pytest.mark.parametrize(("model", "effort"), PATHS)
@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_schema_is_a_400_before_anything_is_sent(
    client, answering, name, model, effort
):
    schema, problem = MALFORMED[name]
    body = {"model": model, "messages": HI, "response_format": schema_format(schema)}
    if effort is not None:
        body["reasoning_effort"] = effort
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = check_error(response.get_json(), 400)
    assert (error.type, error.param, error.code) == (
        "invalid_request_error",
        "response_format",
        None,
    )
    assert error.message == f"Invalid schema for response_format 'answer': {problem}."
    assert not answering.calls


@pytest.mark.parametrize("model", [SONNET, SONNET_4])
def test_a_malformed_schema_beside_client_tools_is_a_400_too(client, answering, model):
    weather = {
        "type": "function",
        "function": {"name": "weather", "parameters": {"type": "object"}},
    }
    schema, problem = MALFORMED["required 5"]
    body = {"model": model, "messages": HI, "tools": [weather], "tool_choice": "required"}
    response = client.post(
        "/v1/chat/completions", json={**body, "response_format": schema_format(schema)}
    )
    assert check_error(response.get_json(), 400).message.endswith(f"{problem}.")
    assert not answering.calls


@pytest.mark.parametrize("model", [SONNET, SONNET_4])
def test_json_schema_without_a_schema_and_reasoning_effort_names_response_format(client, model):
    body = {"model": model, "messages": HI, "reasoning_effort": "low"}
    with responses.RequestsMock():
        response = client.post(
            "/v1/chat/completions", json={**body, "response_format": schema_format()}
        )
    assert response.status_code == 400
    error = check_invalid_param(response.get_json(), "response_format")
    assert error.code == "unsupported_value"
    assert "forced tool" in error.message
    if model == SONNET:
        assert "is missing its 'schema'" in error.message


def test_json_schema_without_a_schema_goes_to_an_empty_forced_tool(client, answering):
    body = {"model": SONNET, "messages": HI, "response_format": schema_format()}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.get_json()
    sent = json.loads(answering.calls[-1].request.body)
    assert sent["tools"][0]["input_schema"] == {"type": "object", "properties": {}}


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
