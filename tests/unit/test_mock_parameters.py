"""Function parameters the mock cannot answer with an object are refused as OpenAI does."""

from __future__ import annotations

import json

import pytest

from tests.support.body_checks import check_error
from tests.unit.mock_helpers import chat, user


def _tool(parameters: dict) -> dict:
    return {"type": "function", "function": {"name": "f", "parameters": parameters}}


@pytest.mark.parametrize(
    "parameters", [{"type": "string"}, {"type": "array", "items": {"type": "integer"}}]
)
def test_a_non_object_parameters_schema_is_a_400(client, parameters):
    tools = [_tool({"type": "object"}), _tool(parameters)]
    body = {"model": "mock", "messages": user("hi"), "tools": tools, "tool_choice": "none"}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 400
    error = check_error(response.get_json(), 400)
    assert error.param == "tools[1].function.parameters"
    assert error.code == "invalid_function_parameters"
    legacy = {"model": "mock", "messages": user("hi"), "functions": [tools[1]["function"]]}
    response = client.post("/v1/chat/completions", json=legacy)
    assert response.status_code == 400
    assert check_error(response.get_json(), 400).param == "functions[0].parameters"


@pytest.mark.parametrize("parameters", [{"type": ["object", "null"]}, {"properties": {}}])
def test_object_parameters_in_any_spelling_get_an_arguments_object(client, parameters):
    answer = chat(client, messages=user("hi"), tools=[_tool(parameters)])
    arguments = answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert isinstance(json.loads(arguments), dict)
