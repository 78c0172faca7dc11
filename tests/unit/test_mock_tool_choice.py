"""The mock's tool selection: tool_choice, parallel calls, tool results and legacy functions."""

from __future__ import annotations

import pytest

from app.backends.mock import tools
from app.errors import InvalidRequestError


def _tool(name):
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


TOOLS = [_tool("get_weather"), _tool("get_time"), _tool("search")]


def _names(plan):
    return [function["name"] for function in plan.functions]


def test_auto_calls_the_first_tool_unless_the_text_names_others():
    assert _names(tools.plan({"tools": TOOLS}, "hello", False)) == ["get_weather"]
    body = {"tools": TOOLS, "tool_choice": "auto"}
    assert _names(tools.plan(body, "use search, then get time", False)) == ["search", "get_time"]
    body["parallel_tool_calls"] = False
    assert _names(tools.plan(body, "use search, then get time", False)) == ["search"]


def test_after_a_tool_result_auto_answers_in_text_but_forced_choices_still_call():
    assert tools.plan({"tools": TOOLS}, "hi", True).style == tools.TEXT
    assert tools.plan({"tools": TOOLS, "tool_choice": "required"}, "hi", True).style == tools.TOOLS
    named = {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "search"}}}
    assert _names(tools.plan(named, "use get_time", True)) == ["search"]


def test_none_allowed_tools_and_custom_choices():
    assert tools.plan({"tools": TOOLS, "tool_choice": "none"}, "search", False).style == tools.TEXT
    allowed = {
        "type": "allowed_tools",
        "allowed_tools": {
            "mode": "required",
            "tools": [{"type": "function", "function": {"name": "get_time"}}],
        },
    }
    plan = tools.plan({"tools": TOOLS, "tool_choice": allowed}, "search", True)
    assert _names(plan) == ["get_time"]
    custom = {"type": "custom", "custom": {"name": "grammar"}}
    assert tools.plan({"tools": TOOLS, "tool_choice": custom}, "x", False).style == tools.TEXT


def test_unknown_named_tool_is_a_client_error():
    body = {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}
    with pytest.raises(InvalidRequestError) as caught:
        tools.plan(body, "", False)
    assert caught.value.param == "tool_choice"


def test_legacy_functions():
    functions = [t["function"] for t in TOOLS]
    plan = tools.plan({"functions": functions}, "please search", False)
    assert plan.style == tools.FUNCTION and _names(plan) == ["search"]
    forced = {"functions": functions, "function_call": {"name": "get_time"}}
    assert _names(tools.plan(forced, "", True)) == ["get_time"]
    assert tools.plan({"functions": functions}, "x", True).style == tools.TEXT
    assert tools.plan({"functions": functions, "function_call": "none"}, "", False).style == "text"
