"""Structured output: `response_format` json_object and json_schema in the Anthropic request.

A `json_schema` goes to Anthropic's structured outputs (`output_config.format`) on models that
have them: the answer is a text block holding the JSON, decoded under the schema. Older models,
and schemas those structured outputs cannot take (output_schema.py), get a forced tool call
instead, whose input is the answer. A schema that is not valid JSON Schema at all
(schema_malformed) is a 400 on every path, before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.backends.anthropic.capabilities import by_prefix
from app.backends.anthropic.output_schema import convert
from app.backends.anthropic.prefill import end_with_user_turn
from app.backends.anthropic.schema_malformed import Malformed, check_schema
from app.errors import InvalidRequestError

JSON_OBJECT_INSTRUCTION = (
    "Respond only with a single valid JSON object. Do not wrap it in Markdown code fences and "
    "do not add any text before or after it."
)
_ANSWER_DESCRIPTION = "Give the final answer as a JSON object that matches this schema."
# Upstream model id prefix → whether the model takes `output_config.format`; the longest
# matching prefix wins. Anthropic lists structured outputs for every model from Claude Sonnet 4.5
# on, so ids that match none (newer models) take them.
NATIVE_FORMAT = {
    "claude-instant": False,
    "claude-2": False,
    "claude-3-": False,
    "claude-sonnet-4-0": False,
    "claude-sonnet-4-20": False,
    "claude-opus-4-0": False,
    "claude-opus-4-20": False,
    "claude-opus-4-1": False,
    "claude-sonnet-4-5": True,
    "claude-haiku-4-5": True,
    "claude-opus-4-5": True,
}
# The backend option `structured_outputs`, for upstreams whose model ids the table does not know.
NATIVE_OPTION = {"native": True, "tool": False}


@dataclass(frozen=True)
class Structured:
    """How the answer comes back: `answer_tool` names the forced tool whose input is the
    answer; `native` means the answer is the JSON text of `output_config.format`."""

    answer_tool: str | None = None
    native: bool = False


def native_format(model: str, override: bool | None = None) -> bool:
    """True when the upstream model `model` takes `output_config.format`: `override` (the
    backend's `structured_outputs` option) when set, else by NATIVE_FORMAT."""
    return by_prefix(NATIVE_FORMAT, model, True) if override is None else override


def apply_response_format(
    body: dict[str, Any], payload: dict[str, Any], native: bool, thinking: bool
) -> Structured:
    """Structured output in `payload`: `json_schema` natively (`native`: the model takes
    `output_config.format`) or through a forced tool, `json_object` by an instruction in the
    system prompt. `thinking`: the request thinks, so a forced tool is not possible."""
    format_ = body.get("response_format")
    kind = format_.get("type") if isinstance(format_, dict) else None
    if kind in (None, "text"):
        return Structured()
    if kind == "json_object":
        parts = [payload.get("system"), JSON_OBJECT_INSTRUCTION]
        payload["system"] = "\n\n".join(part for part in parts if part)
        return Structured()
    if kind != "json_schema":
        raise InvalidRequestError(
            f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and "
            "'json_schema'.",
            param="response_format.type",
        )
    spec = _spec(format_)
    schema, problem = _converted(spec, native)
    if not native:
        return Structured(answer_tool=_force_answer_tool(spec, payload))
    if schema is None:
        if thinking:
            raise _unfit_with_thinking(spec, str(problem))
        return Structured(answer_tool=_force_answer_tool(spec, payload))
    payload.setdefault("output_config", {})["format"] = {"type": "json_schema", "schema": schema}
    # Anthropic refuses a prefill with JSON outputs: the final assistant message stays as
    # history and a user turn follows it, as for models that refuse a prefill.
    end_with_user_turn(payload)
    return Structured(native=True)


def _spec(format_: dict[str, Any]) -> dict[str, Any]:
    spec = format_.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise InvalidRequestError(
            "Missing required parameter.", param="response_format.json_schema.name"
        )
    return spec


def _converted(spec: dict[str, Any], native: bool) -> tuple[dict[str, Any] | None, str | None]:
    """convert's answer for the spec's schema (None and a reason when there is none, or the
    model does not take `output_config.format`); a 400 when the schema is malformed."""
    schema = spec.get("schema")
    try:
        if schema is None:
            return None, "there is no schema"
        if native:
            return convert(schema)
        # The forced tool sends the schema as it is: Anthropic would refuse a malformed one,
        # naming a tool the client never sent.
        check_schema(schema)
        return None, "the model has no structured outputs"
    except Malformed as exc:
        raise InvalidRequestError(
            f"Invalid schema for response_format {spec['name']!r}: {exc}.",
            param="response_format",
        ) from None


def _force_answer_tool(spec: dict[str, Any], payload: dict[str, Any]) -> str:
    """Add the answer tool and make the model call a tool; the tool's name."""
    tools = payload.setdefault("tools", [])
    if any(tool["name"] == spec["name"] for tool in tools):
        raise InvalidRequestError(
            f"The response format name {spec['name']!r} is also the name of a tool.",
            param="response_format.json_schema.name",
        )
    answer = {
        "name": spec["name"],
        "description": spec.get("description") or _ANSWER_DESCRIPTION,
        "input_schema": spec.get("schema") or {"type": "object", "properties": {}},
    }
    choice = payload.get("tool_choice") or {}
    if not tools or choice.get("type") == "none":
        # Only the answer is wanted: force it.
        payload["tool_choice"] = {"type": "tool", "name": answer["name"]}
    elif choice.get("type") != "tool":
        # The model may call the client's tools or give its answer, but must do one of them.
        payload["tool_choice"] = {"type": "any"}
        if choice.get("disable_parallel_tool_use"):
            payload["tool_choice"]["disable_parallel_tool_use"] = True
    tools.append(answer)
    return answer["name"]


def _unfit_with_thinking(spec: dict[str, Any], problem: str) -> InvalidRequestError:
    fallback = (
        "a forced tool call, which is not available when 'reasoning_effort' is set, as its "
        "thinking does not allow forced tool use"
    )
    if spec.get("schema") is None:
        return InvalidRequestError(
            "Unsupported value: 'response_format' of type 'json_schema' is missing its "
            f"'schema'. Without a schema this model answers it through {fallback}. Add a "
            "'schema', use 'json_object', or leave out 'reasoning_effort'.",
            # As on models without structured outputs, where the forced tool is refused.
            param="response_format",
            code="unsupported_value",
        )
    return InvalidRequestError(
        "Unsupported value: the 'response_format' schema cannot be sent as this model's "
        f"structured output ({problem}), and its fallback is {fallback}. Simplify the schema, "
        "or leave out 'reasoning_effort'.",
        param="response_format",
        code="unsupported_value",
    )
