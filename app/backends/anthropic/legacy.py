"""The deprecated `functions` / `function_call` API on top of Anthropic's tools."""

from __future__ import annotations

from typing import Any

from app.errors import InvalidRequestError


def tool_choice_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The `tool_choice` and `parallel_tool_calls` that the request's `function_call` means."""
    call = body.get("function_call")
    choice: Any
    if call is None or call in ("auto", "none"):
        choice = call or "auto"
    elif isinstance(call, dict) and isinstance(call.get("name"), str):
        choice = {"type": "function", "function": {"name": call["name"]}}
    else:
        raise InvalidRequestError("Invalid value for 'function_call'.", param="function_call")
    # OpenAI's legacy answer holds a single call.
    return {"tool_choice": choice, "parallel_tool_calls": False}


class LegacyCalls:
    """The legacy function calls of a history, and which of them still wait for a result.

    Legacy calls carry no id, so the gateway gives each one an id from the position of its
    message; a `function` message answers the latest earlier call of its name without a result.
    """

    def __init__(self) -> None:
        self.waiting: list[tuple[str, str]] = []

    def call(self, name: str, index: int) -> str:
        """The id of the legacy call of `name` in the message at `index`."""
        call_id = f"function_call_{index}"
        self.waiting.append((name, call_id))
        return call_id

    def result(self, name: Any, index: int) -> str:
        """The id of the call that the `function` message at `index` answers; a 400 if none."""
        for position in range(len(self.waiting) - 1, -1, -1):
            if self.waiting[position][0] == name:
                return self.waiting.pop(position)[1]
        raise InvalidRequestError(
            f"Invalid value for 'messages[{index}]': no earlier assistant `function_call` of "
            f"{name!r} is waiting for this `function` message's result.",
            param=f"messages[{index}]",
            code="invalid_value",
        )
