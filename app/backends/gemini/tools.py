"""OpenAI tools and tool_choice as Gemini function declarations and `toolConfig`."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from app.backends.allowed_tools import allowed_function_names
from app.backends.gemini.names import FunctionNames
from app.backends.gemini.schema import plain_json_schema, to_gemini_schema
from app.errors import InvalidRequestError, UnsupportedError

_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def tool_fields(
    body: dict[str, Any], schema_mode: str, function_names: FunctionNames | None = None
) -> dict[str, Any]:
    """`tools` and `toolConfig` for the request (empty when the client sent no tools); function
    names go out as `function_names` gives them to Gemini."""
    rename = (function_names or FunctionNames.of(body)).to_gemini
    declarations = _declarations(body, schema_mode)
    if not declarations:
        return {}
    choice = body.get("tool_choice", body.get("function_call"))
    param = "tool_choice" if "tool_choice" in body else "function_call"
    mode, names = _choice(choice, param)
    if names is not None:
        known = {d["name"] for d in declarations}
        missing = [n for n in names if n not in known]
        if missing:
            raise InvalidRequestError(
                f"Tool choice names the function `{missing[0]}`, which is not in `tools`.",
                param=param,
            )
        if mode == "AUTO":
            # Gemini restricts names only in ANY mode; in AUTO mode the others are left out.
            declarations = [d for d in declarations if d["name"] in names]
    declarations = [{**d, "name": rename(d["name"])} for d in declarations]
    fields: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]}
    if mode is not None:
        config: dict[str, Any] = {"mode": mode}
        if names is not None and mode == "ANY":
            config["allowedFunctionNames"] = [rename(n) for n in names]
        fields["toolConfig"] = {"functionCallingConfig": config}
    return fields


def _declarations(body: dict[str, Any], schema_mode: str) -> list[dict[str, Any]]:
    functions: list[tuple[dict[str, Any], str]] = []
    for i, tool in enumerate(body.get("tools") or []):
        if tool.get("type") != "function":
            raise UnsupportedError(
                f"Tools of type `{tool.get('type')}` are not supported by this model; "
                "only function tools are.",
                param=f"tools[{i}].type",
            )
        functions.append((tool.get("function") or {}, f"tools[{i}].function"))
    if not functions:
        functions = [(f, f"functions[{i}]") for i, f in enumerate(body.get("functions") or [])]
    return [_declaration(function, param, schema_mode) for function, param in functions]


def _declaration(function: dict[str, Any], param: str, schema_mode: str) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": function.get("name", "")}
    if function.get("description"):
        declaration["description"] = function["description"]
    parameters = function.get("parameters")
    if not parameters:
        return declaration
    if schema_mode == "json":
        declaration["parametersJsonSchema"] = plain_json_schema(parameters)
        return declaration
    reduced = to_gemini_schema(parameters, f"{param}.parameters")
    # Gemini rejects an OBJECT with no properties: a function without arguments sends none.
    if reduced.get("properties") or reduced.get("type") not in (None, "OBJECT"):
        declaration["parameters"] = reduced
    return declaration


def _choice(choice: Any, param: str) -> tuple[str | None, list[str] | None]:
    """(mode, allowed function names) for an OpenAI tool_choice / function_call value."""
    if choice is None:
        return None, None
    if isinstance(choice, str):
        if choice not in _MODES:
            raise InvalidRequestError(f"Invalid value for `{param}`: {choice!r}.", param=param)
        return _MODES[choice], None
    if not isinstance(choice, dict):
        raise InvalidRequestError(f"Invalid value for `{param}`.", param=param)
    if choice.get("type") == "allowed_tools":
        return _MODES[choice["allowed_tools"]["mode"]], allowed_function_names(choice)
    function = choice.get("function") if choice.get("type") == "function" else choice
    name = (function or {}).get("name")
    if not name:
        raise InvalidRequestError(f"`{param}` must name a function.", param=param)
    return "ANY", [name]


class ThoughtSignatures:
    """Recent `thoughtSignature`s by tool call id, so replayed calls can carry them back.

    Gemini attaches an opaque signature to function calls of thinking models and expects it on
    the same call when the conversation is sent again; OpenAI clients only echo the call id.
    The memory is per worker and bounded; a signature that is gone is simply not sent.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, call_id: str, signature: str | None) -> None:
        """Keep `signature` for the tool call `call_id` (nothing when there is none)."""
        if not signature:
            return
        with self._lock:
            self._items[call_id] = signature
            self._items.move_to_end(call_id)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)

    def get(self, call_id: str) -> str | None:
        """The signature remembered for `call_id`, if any."""
        with self._lock:
            return self._items.get(call_id)
