"""The function names an OpenAI `allowed_tools` tool_choice lists, for the backends that map it."""

from __future__ import annotations

from typing import Any


def allowed_function_names(choice: dict[str, Any]) -> list[str]:
    """One name per tool listed in `choice["allowed_tools"]["tools"]`, in their order.

    A listed item that is not a function tool naming a function gives `""`: no tool has that
    name, so a backend that checks the names against `tools` refuses it, and one that only
    filters `tools` by them ignores it. The schema (AllowedToolsSchema) has already checked the
    mode and that `tools` is a list of objects.
    """
    return [_name(item) for item in choice["allowed_tools"]["tools"]]


def _name(item: dict[str, Any]) -> str:
    function = item.get("function")
    if item.get("type") != "function" or not isinstance(function, dict):
        return ""
    name = function.get("name")
    return name if isinstance(name, str) else ""
