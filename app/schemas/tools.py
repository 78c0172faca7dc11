"""Tools and functions: definitions, calls in assistant messages, `tool_choice`, `function_call`."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.schemas import problems
from app.schemas.base import (
    Array,
    BaseSchema,
    ByType,
    Choice,
    Discriminated,
    JSONObject,
    Object,
    StrictBoolean,
    StrictString,
)

NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


class FunctionDefinitionSchema(BaseSchema):
    """The `function` of a function tool (FunctionObject)."""

    name = StrictString(required=True, pattern=NAME_PATTERN)
    description = StrictString()
    parameters = JSONObject()
    strict = StrictBoolean(allow_none=True)


class FunctionToolSchema(BaseSchema):
    """`{"type": "function", "function": {...}}`."""

    type = StrictString(required=True)
    function = Object(FunctionDefinitionSchema, required=True)


class TextFormatSchema(BaseSchema):
    """Free-form text input for a custom tool."""

    type = StrictString(required=True)


class GrammarSchema(BaseSchema):
    """A grammar that constrains a custom tool's input."""

    definition = StrictString(required=True)
    syntax = Choice(("lark", "regex"), required=True)


class GrammarFormatSchema(BaseSchema):
    """Grammar-constrained input for a custom tool."""

    type = StrictString(required=True)
    grammar = Object(GrammarSchema, required=True)


class CustomToolDefinitionSchema(BaseSchema):
    """The `custom` object of a custom tool."""

    name = StrictString(required=True)
    description = StrictString()
    format = Discriminated("type", {"text": TextFormatSchema, "grammar": GrammarFormatSchema})


class CustomToolSchema(BaseSchema):
    """`{"type": "custom", "custom": {...}}`."""

    type = StrictString(required=True)
    custom = Object(CustomToolDefinitionSchema, required=True)


TOOL_SCHEMAS: dict[str, type[ma.Schema]] = {
    "function": FunctionToolSchema,
    "custom": CustomToolSchema,
}


class CalledFunctionSchema(BaseSchema):
    """The function a tool call invoked, with its JSON-encoded arguments."""

    name = StrictString(required=True)
    arguments = StrictString(required=True)


class FunctionToolCallSchema(BaseSchema):
    """A function tool call in an assistant message."""

    id = StrictString(required=True)
    type = StrictString(required=True)
    function = Object(CalledFunctionSchema, required=True)


class CalledCustomSchema(BaseSchema):
    """The custom tool a tool call invoked, with its input."""

    name = StrictString(required=True)
    input = StrictString(required=True)


class CustomToolCallSchema(BaseSchema):
    """A custom tool call in an assistant message."""

    id = StrictString(required=True)
    type = StrictString(required=True)
    custom = Object(CalledCustomSchema, required=True)


TOOL_CALL_SCHEMAS: dict[str, type[ma.Schema]] = {
    "function": FunctionToolCallSchema,
    "custom": CustomToolCallSchema,
}


class NameSchema(BaseSchema):
    """`{"name": ...}`: names a function or tool."""

    name = StrictString(required=True)


class NamedFunctionChoiceSchema(BaseSchema):
    """`tool_choice` forcing one function tool."""

    type = StrictString(required=True)
    function = Object(NameSchema, required=True)


class NamedCustomChoiceSchema(BaseSchema):
    """`tool_choice` forcing one custom tool."""

    type = StrictString(required=True)
    custom = Object(NameSchema, required=True)


class AllowedToolsSchema(BaseSchema):
    """The subset of tools the model may use."""

    mode = Choice(("auto", "required"), required=True)
    tools = Array(JSONObject(), required=True)


class AllowedToolsChoiceSchema(BaseSchema):
    """`tool_choice` restricting the model to some tools."""

    type = StrictString(required=True)
    allowed_tools = Object(AllowedToolsSchema, required=True)


class FunctionDeclarationSchema(BaseSchema):
    """An item of the deprecated `functions` list."""

    name = StrictString(required=True, pattern=NAME_PATTERN)
    description = StrictString()
    parameters = JSONObject()


def tool_choice_field() -> ByType:
    """`tool_choice`: `none`, `auto`, `required`, or an object naming tools."""
    named = {
        "function": NamedFunctionChoiceSchema,
        "custom": NamedCustomChoiceSchema,
        "allowed_tools": AllowedToolsChoiceSchema,
    }
    return ByType(
        {str: Choice(("none", "auto", "required")), dict: Discriminated("type", named)},
        "one of a string or an object",
    )


def function_call_field() -> ByType:
    """The deprecated `function_call`: `none`, `auto` or `{"name": ...}`."""
    return ByType(
        {str: Choice(("none", "auto")), dict: Object(NameSchema)}, "one of a string or an object"
    )


def _names(tools: list[dict[str, Any]], kind: str) -> list[str]:
    return [tool[kind]["name"] for tool in tools if tool["type"] == kind]


def _unknown_name(name: str, where: str, known: list[str]) -> problems.Problem:
    # Name the defined ones when there are few enough to be helpful.
    defined = f" Defined: {problems.listing(known)}." if 0 < len(known) <= 10 else ""
    return problems.invalid(f"{problems.shown(name)} is not the name of a {where}.{defined}")


def check_tool_choice(data: dict[str, Any]) -> None:
    """`tool_choice` needs `tools` (unless `none`) and may only name a tool that is defined."""
    choice, tools = data.get("tool_choice"), data.get("tools") or []
    if choice is None or choice == "none":
        return
    if not tools:
        raise ma.ValidationError(
            problems.invalid("'tool_choice' is only allowed when 'tools' are specified."),
            field_name="tool_choice",
        )
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind in ("function", "custom"):
        name, known = choice[kind]["name"], _names(tools, kind)
        if name not in known:
            where = "function in 'tools'" if kind == "function" else "custom tool in 'tools'"
            raise ma.ValidationError(
                {"tool_choice": {kind: {"name": [_unknown_name(name, where, known)]}}}
            )


def check_parallel_tool_calls(data: dict[str, Any]) -> None:
    """`parallel_tool_calls` (true or false) needs `tools`, as OpenAI insists."""
    if data.get("parallel_tool_calls") is not None and not data.get("tools"):
        raise ma.ValidationError(
            problems.invalid("'parallel_tool_calls' is only allowed when 'tools' are specified."),
            field_name="parallel_tool_calls",
        )


def check_function_call(data: dict[str, Any]) -> None:
    """The deprecated `function_call` may only name a function listed in `functions`."""
    call, functions = data.get("function_call"), data.get("functions") or []
    if call is None or call == "none":
        return
    if not functions:
        raise ma.ValidationError(
            problems.invalid("'function_call' is only allowed when 'functions' are specified."),
            field_name="function_call",
        )
    if isinstance(call, dict):
        known = [function["name"] for function in functions]
        if call["name"] not in known:
            problem = _unknown_name(call["name"], "function in 'functions'", known)
            raise ma.ValidationError({"function_call": {"name": [problem]}})
