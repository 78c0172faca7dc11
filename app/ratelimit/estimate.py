"""The token estimate charged when a request arrives, before the upstream reports its usage.

Only the prompt is counted: chat messages (with tool definitions and images), completion
prompts and embedding inputs, with app.tokens. `max_tokens` is not reserved; the completion is
charged when the response ends. The body is not validated yet, so every shape is read defensively.
"""

from __future__ import annotations

from typing import Any

from app import tokens


def prompt_tokens(body: dict[str, Any], model: str) -> int:
    """Estimated prompt tokens of a chat, completions or embeddings request body."""
    try:
        return _prompt_tokens(body, model)
    except (TypeError, AttributeError, ValueError, RecursionError):
        # Only a body that fails validation right after gets here; it costs no tokens.
        return 0


def _prompt_tokens(body: dict[str, Any], model: str) -> int:
    if "messages" in body:
        messages = [m for m in _list(body["messages"]) if isinstance(m, dict)]
        return tokens.count_messages(messages, model) + _functions(body, model)
    if "prompt" in body:
        return _inputs(body["prompt"], model)
    return _inputs(body.get("input"), model)


def _functions(body: dict[str, Any], model: str) -> int:
    tools = [tool.get("function") for tool in _list(body.get("tools")) if isinstance(tool, dict)]
    functions = [f for f in tools + _list(body.get("functions")) if isinstance(f, dict)]
    return tokens.count_functions(functions, model) if functions else 0


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _inputs(value: Any, model: str) -> int:
    """A string, a list of strings, token ids, or lists of token ids."""
    if isinstance(value, str):
        return tokens.count_text(value, model)
    if not isinstance(value, list):
        return 0
    total = 0
    for item in value:
        if isinstance(item, str):
            total += tokens.count_text(item, model)
        elif isinstance(item, list):
            total += len(item)
        elif isinstance(item, int):
            total += 1
    return total
