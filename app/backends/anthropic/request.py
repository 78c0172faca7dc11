"""OpenAI chat request → Anthropic Messages API request body."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.backends.allowed_tools import allowed_function_names
from app.backends.anthropic.caching import place_breakpoints
from app.backends.anthropic.legacy import tool_choice_fields
from app.backends.anthropic.messages import prompt
from app.backends.anthropic.stops import split_stops
from app.backends.anthropic.structured import apply_response_format, native_format
from app.backends.anthropic.thinking import apply_thinking, model_mode, thinks
from app.backends.anthropic.thinking_memory import ThinkingMemory, replay
from app.backends.translate import legacy_functions, max_output_tokens
from app.errors import InvalidRequestError, UnsupportedError

DEFAULT_MAX_TOKENS = 4096
# Length of the hex SHA-256 sent as `metadata.user_id`: 128 bits keeps distinct users apart.
USER_ID_HEX_CHARS = 32
# Anthropic tool_choice types that make the model call a tool.
FORCING_CHOICES = ("any", "tool")


@dataclass
class Plan:
    """The Anthropic request body, and how to read the answer back.

    `answer_tool` names the tool that carries a `json_schema` answer: its input is the
    message content the client receives, never a tool call. `legacy`: the request has the
    deprecated `functions`, so the answer's first tool call becomes its `function_call`.
    `local_stops`: the stop sequences the gateway applies itself (stops.split_stops); none for
    the JSON of Anthropic's structured outputs, which they would cut.
    """

    payload: dict[str, Any]
    answer_tool: str | None = None
    legacy: bool = False
    local_stops: list[str] = field(default_factory=list)


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRequestError(
            f"Invalid '{name}': expected a number between {low:g} and {high:g}.", param=name
        )
    return value


def _refuse_unsupported(body: dict[str, Any], legacy: bool) -> None:
    if (body.get("n") or 1) > 1:
        raise UnsupportedError("This model only supports n=1.", param="n")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise UnsupportedError("This model does not return log probabilities.", param="logprobs")
    if body.get("audio") or "audio" in (body.get("modalities") or []):
        raise UnsupportedError("This model does not produce audio.", param="modalities")
    if body.get("web_search_options") is not None:
        raise UnsupportedError(
            "Web search is not available for this model.", param="web_search_options"
        )
    # Beside `tools` it is unclear whether the answer should hold tool calls or a legacy
    # `function_call`: such requests stay refused.
    if not legacy and (body.get("functions") or body.get("function_call")):
        raise UnsupportedError(
            "The deprecated `functions` and `function_call` are only supported in requests "
            "with `functions` and no `tools`; use `tools`.",
            param="functions",
        )


def _tools(body: dict[str, Any], legacy: bool) -> list[dict[str, Any]]:
    """The Anthropic tools for the function tools, or the legacy `functions` (`legacy`)."""
    if legacy:
        return [_tool(f, f"functions[{i}]") for i, f in enumerate(body["functions"])]
    tools = []
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise UnsupportedError("Only function tools are supported.", param=f"tools[{i}].type")
        tools.append(_tool(tool.get("function"), f"tools[{i}].function"))
    return tools


def _tool(function: Any, param: str) -> dict[str, Any]:
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequestError("Missing required parameter.", param=f"{param}.name")
    item: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        item["description"] = function["description"]
    item["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
    return item


def _allowed_tools(
    choice: dict[str, Any], tools: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`allowed_tools`: Anthropic has no such choice, so only the listed tools are sent."""
    mode = choice["allowed_tools"]["mode"]
    known = {tool["name"] for tool in tools}
    names = allowed_function_names(choice)
    for i, name in enumerate(names):
        if name not in known:
            what = repr(name) if name else f"allowed_tools.tools[{i}]"
            raise InvalidRequestError(
                f"Invalid value for 'tool_choice': {what} is not a function in 'tools'.",
                param="tool_choice",
                code="invalid_value",
            )
    if not names:
        if mode == "required":
            raise InvalidRequestError(
                "Invalid value for 'tool_choice': mode 'required' needs at least one allowed tool.",
                param="tool_choice",
                code="invalid_value",
            )
        # No tool may be called; the tools stay, as Anthropic wants them for any tool history.
        return {"type": "none"}, tools
    kept = [tool for tool in tools if tool["name"] in names]
    return {"type": "auto" if mode == "auto" else "any"}, kept


def _tool_choice(
    body: dict[str, Any], tools: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Anthropic's `tool_choice` (None for its default) and the tools to send with it."""
    choice = body.get("tool_choice")
    if choice is None:
        mapped = {"type": "auto"}
    elif choice in ("auto", "none"):
        mapped = {"type": choice}
    elif choice == "required":
        mapped = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        mapped, tools = _allowed_tools(choice, tools)
    elif isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        mapped = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise InvalidRequestError("Invalid value for 'tool_choice'.", param="tool_choice")
    if body.get("parallel_tool_calls") is False and mapped["type"] != "none":
        mapped["disable_parallel_tool_use"] = True
    # Without an explicit choice Anthropic's default is already `auto`: send nothing.
    return (mapped if choice is not None or len(mapped) > 1 else None), tools


def opaque_user_id(user: str) -> str:
    """The `metadata.user_id` for the client's end-user id: a truncated hex SHA-256 of it."""
    # Anthropic wants an opaque id, never an e-mail address or phone number; hashing keeps
    # the id stable, so Anthropic can still tell users apart.
    return hashlib.sha256(user.encode()).hexdigest()[:USER_ID_HEX_CHARS]


def build_request(
    body: dict[str, Any],
    model: str,
    options: Mapping[str, Any],
    thinking: ThinkingMemory | None = None,
) -> Plan:
    """Translate a validated OpenAI chat body into the Messages API body for `model`.

    `options`: `default_max_tokens`; `cache_mark`, the `cache_control` of prompt caching
    (caching.cache_mark; None or missing: off); `thinking_mode` (a thinking.Mode) and
    `native_format` (a bool), the backend's `thinking` and `structured_outputs`, which replace
    the model tables (None or missing: by model id). `thinking` holds the thinking blocks to
    send back with tool results (thinking_memory).
    """
    legacy = legacy_functions(body)
    _refuse_unsupported(body, legacy)
    messages = body.get("messages") or []
    payload: dict[str, Any] = {"model": model}
    system, turns = prompt(messages, legacy)
    if system:
        payload["system"] = system
    payload["messages"] = turns
    default_max_tokens = int(options.get("default_max_tokens", DEFAULT_MAX_TOKENS))
    payload["max_tokens"] = max_output_tokens(body) or default_max_tokens
    local_stops = _sampling(body, payload)
    tools = _tools(body, legacy)
    # The request field that makes Anthropic call a tool, if any: thinking refuses that.
    forced = None
    if tools:
        # The legacy `function_call` is answered as the `tool_choice` it stands for.
        choice, payload["tools"] = _tool_choice(tool_choice_fields(body) if legacy else body, tools)
        if choice is not None:
            payload["tool_choice"] = choice
            if choice["type"] in FORCING_CHOICES:
                forced = "function_call" if legacy else "tool_choice"
    mode = model_mode(model, options.get("thinking_mode"))
    native = native_format(model, options.get("native_format"))
    structured = apply_response_format(body, payload, native, thinks(body, mode))
    if structured.answer_tool is not None and forced is None:
        forced = "response_format"
    if apply_thinking(body, payload, default_max_tokens, forced, mode):
        replay(payload, body, thinking)
    place_breakpoints(payload, body, options.get("cache_mark"))
    # `safety_identifier` is OpenAI's newer name for the end-user id `user` carried.
    user = body.get("user") or body.get("safety_identifier")
    if user:
        payload["metadata"] = {"user_id": opaque_user_id(str(user))}
    if body.get("stream"):
        payload["stream"] = True
    # A JSON answer is never cut by the stops the gateway applies itself (`"\n"` …).
    return Plan(payload, structured.answer_tool, legacy, [] if structured.native else local_stops)


def _sampling(body: dict[str, Any], payload: dict[str, Any]) -> list[str]:
    """Sampling settings and stop sequences into `payload`; the stops the gateway applies."""
    # Anthropic refuses whitespace-only stop sequences; the gateway applies those itself.
    stops, local = split_stops(body)
    if stops:
        payload["stop_sequences"] = stops
    temperature = _number(body, "temperature", 0, 2)
    if temperature is not None:
        # OpenAI's 0–2 and Anthropic's 0–1 agree on 0–1, the range nearly everyone uses;
        # values above 1 ask for "more random" and get Anthropic's most random, 1.
        payload["temperature"] = min(temperature, 1)
    top_p = _number(body, "top_p", 0, 1)
    # Current Claude models refuse both together (400); temperature is the one clients set
    # most, so it wins. top_p is still checked, as OpenAI would check it.
    if top_p is not None and temperature is None:
        payload["top_p"] = top_p
    top_k = body.get("top_k")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise InvalidRequestError(
                "Invalid 'top_k': expected a non-negative integer.", param="top_k"
            )
        payload["top_k"] = top_k
    return local
