"""Which function the mock calls: `tools`/`tool_choice`, or the deprecated `functions`."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from app.backends.allowed_tools import allowed_function_names
from app.errors import InvalidRequestError

TEXT, TOOLS, FUNCTION = "text", "tool_calls", "function_call"


@dataclass(frozen=True)
class Plan:
    """How to answer: in text, with tool calls, or with a legacy function call; and whom to call."""

    style: str = TEXT
    functions: list[dict[str, Any]] = field(default_factory=list)


def _functions(items: Any, wrapped: bool) -> list[dict[str, Any]]:
    """Function objects with a name, from `tools` (wrapped) or `functions`."""
    out = []
    for item in _dicts(items):
        if wrapped:
            item = item.get("function") if item.get("type", "function") == "function" else None
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            out.append(item)
    return out


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


@functools.lru_cache(maxsize=512)
def _name_pattern(name: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in re.split(r"[\s_-]+", name) if w] or ["(?!)"]
    return re.compile(r"(?<![A-Za-z0-9])" + r"[\s_-]?".join(words) + r"(?![A-Za-z0-9])", re.I)


def _mentioned(functions: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The functions the text names (`get_weather`, "get weather"), in the order it names them."""
    found = []
    for function in functions:
        match = _name_pattern(function["name"]).search(text)
        if match:
            found.append((match.start(), function))
    return [function for _, function in sorted(found, key=lambda item: item[0])]


def _pick(functions: list[dict[str, Any]], text: str, parallel: bool) -> list[dict[str, Any]]:
    named = _mentioned(functions, text)
    if not named:
        return functions[:1]
    return named if parallel else named[:1]


def _named(functions: list[dict[str, Any]], name: Any, param: str) -> dict[str, Any]:
    for function in functions:
        if function["name"] == name:
            return function
    raise InvalidRequestError(
        f"Invalid value for '{param}': no function named '{name}' was provided.", param=param
    )


def _allowed(functions: list[dict[str, Any]], choice: dict[str, Any]) -> list[dict[str, Any]]:
    names = set(allowed_function_names(choice))
    return [function for function in functions if function["name"] in names]


def declared(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every function the request declares (its function tools, else its `functions`)."""
    return _functions(body.get("tools"), wrapped=True) or _functions(
        body.get("functions"), wrapped=False
    )


def _tool_plan(body: dict[str, Any], text: str, after_result: bool) -> Plan:
    functions = _functions(body.get("tools"), wrapped=True)
    choice = body.get("tool_choice") or "auto"
    parallel = body.get("parallel_tool_calls") is not False
    forced = choice == "required"
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        return Plan(TOOLS, [_named(functions, name, "tool_choice")])
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        functions = _allowed(functions, choice)
        forced = choice["allowed_tools"]["mode"] == "required"
    elif isinstance(choice, dict) or choice == "none":
        return Plan()  # `none`, or a custom tool: the mock does not call custom tools
    if not functions or (after_result and not forced):
        return Plan()
    return Plan(TOOLS, _pick(functions, text, parallel))


def _function_plan(body: dict[str, Any], text: str, after_result: bool) -> Plan:
    functions = _functions(body.get("functions"), wrapped=False)
    choice = body.get("function_call") or "auto"
    if isinstance(choice, dict):
        return Plan(FUNCTION, [_named(functions, choice.get("name"), "function_call")])
    if choice == "none" or not functions or after_result:
        return Plan()
    return Plan(FUNCTION, _pick(functions, text, parallel=False))


def check_parameters(body: dict[str, Any]) -> None:
    """A 400, as OpenAI's, for a function whose parameters schema declares a non-object type."""
    for key, wrapped in (("tools", True), ("functions", False)):
        for index, item in enumerate(_dicts(body.get(key))):
            function = item.get("function") if wrapped else item
            parameters = function.get("parameters") if isinstance(function, dict) else None
            kind = parameters.get("type") if isinstance(parameters, dict) else None
            # Arguments are always an object: a schema for anything else cannot be answered.
            if kind is None or kind == "object" or (isinstance(kind, list) and "object" in kind):
                continue
            name = function.get("name") if isinstance(function, dict) else None
            shown = kind if isinstance(kind, str) else json.dumps(kind)
            raise InvalidRequestError(
                f"Invalid schema for function '{name}': schema must be a JSON Schema of "
                f"'type: \"object\"', got 'type: \"{shown}\"'.",
                param=f"{key}[{index}].{'function.' if wrapped else ''}parameters",
                code="invalid_function_parameters",
            )


def plan(body: dict[str, Any], text: str, after_result: bool) -> Plan:
    """The plan for a request whose last user message is `text`.

    `auto` calls the tools the text names (all of them when parallel calls are allowed), else the
    first tool, unless the conversation ends with a tool result; `required` and a named function
    always call. Without `tools`, the deprecated `functions` and `function_call` work alike.
    """
    check_parameters(body)
    if body.get("tools"):
        return _tool_plan(body, text, after_result)
    if body.get("functions"):
        return _function_plan(body, text, after_result)
    return Plan()
