"""OpenAI `reasoning_effort` → Anthropic extended thinking, and the rules thinking sets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.backends.anthropic.capabilities import by_prefix
from app.backends.anthropic.prefill import end_with_user_turn
from app.backends.translate import max_output_tokens
from app.errors import InvalidRequestError, UnsupportedError

# Anthropic's smallest `budget_tokens`; the budget must also stay below `max_tokens`.
MIN_BUDGET = 1024
# reasoning_effort → thinking budget in tokens. For models that take a budget it is sent as
# `budget_tokens`; for all it is the room added to the default `max_tokens`. The largest plus
# ANSWER_ROOM stays within 32,000, the output limit of Claude Opus 4 and 4.1.
BUDGETS = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 27648,
}
# Tokens kept for the answer beside the budget when the client sets no limit.
ANSWER_ROOM = 4096
# Thinking allows only these top_p values (and no temperature but 1, and no top_k).
TOP_P_RANGE = (0.95, 1.0)


@dataclass(frozen=True)
class Mode:
    """How a model thinks: `budget` (type enabled with `budget_tokens`), `adaptive` (with
    `output_config.effort`, OpenAI level → Anthropic level) or `none` (it cannot think)."""

    kind: str
    efforts: Mapping[str, str] = field(default_factory=dict)


NO_THINKING = Mode("none")
BUDGET = Mode("budget")
_LEVELS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "max": "max"}
# Claude Opus 4.7 and later take `xhigh`; Opus and Sonnet 4.6 do not, so it rounds down to high.
ADAPTIVE = Mode("adaptive", {**_LEVELS, "xhigh": "xhigh"})
ADAPTIVE_4_6 = Mode("adaptive", {**_LEVELS, "xhigh": "high"})
# Upstream model id prefix → how it thinks; the longest matching prefix wins. Ids that match
# none (Claude Opus 4.7 and later models) only take adaptive thinking.
MODEL_MODES = {
    "claude-instant": NO_THINKING,
    "claude-2": NO_THINKING,
    "claude-3-": NO_THINKING,
    "claude-3-7-sonnet": BUDGET,
    "claude-sonnet-4-0": BUDGET,
    "claude-sonnet-4-20": BUDGET,
    "claude-sonnet-4-5": BUDGET,
    "claude-opus-4-0": BUDGET,
    "claude-opus-4-20": BUDGET,
    "claude-opus-4-1": BUDGET,
    "claude-opus-4-5": BUDGET,
    "claude-haiku-4-5": BUDGET,
    "claude-opus-4-6": ADAPTIVE_4_6,
    "claude-sonnet-4-6": ADAPTIVE_4_6,
}
# The backend option `thinking`, for upstreams whose model ids the table does not know.
MODE_OPTION = {"budget": BUDGET, "adaptive": ADAPTIVE, "none": NO_THINKING}


def model_mode(model: str, override: Mode | None = None) -> Mode:
    """How the upstream model `model` thinks: `override` (the backend's `thinking` option) when
    set, else by the longest prefix of MODEL_MODES it has."""
    return by_prefix(MODEL_MODES, model, ADAPTIVE) if override is None else override


def apply_thinking(
    body: dict[str, Any],
    payload: dict[str, Any],
    default_max_tokens: int,
    forced: str | None,
    mode: Mode,
) -> bool:
    """Turn on thinking in `payload` for the request's `reasoning_effort`, as the model's `mode`
    takes it; True when it is on.

    `forced` names the request field that makes Anthropic call a tool (tool_choice `any` or
    `tool`), which thinking refuses. Parameters thinking refuses are a 400 naming them; a
    temperature of 1 or more (Anthropic's 1, its default) is left out instead, and a final
    assistant message becomes history followed by a user turn, as thinking refuses a prefill.
    """
    effort = body.get("reasoning_effort")
    if not thinks(body, mode):
        return False
    _check_sampling(body, payload)
    if forced is not None:
        raise _forced_error(forced)
    limit = max_output_tokens(body)
    if mode.kind == "budget":
        budget = _budget(body, effort, limit)
        payload["thinking"] = {"type": "enabled", "budget_tokens": budget}
    else:
        payload["thinking"] = {"type": "adaptive"}
        # `output_config` may already hold the structured output's `format`.
        payload.setdefault("output_config", {})["effort"] = mode.efforts[effort]
    if limit is None:
        # Thinking counts toward max_tokens: the default alone could leave no room to answer.
        payload["max_tokens"] = max(default_max_tokens, BUDGETS[effort] + ANSWER_ROOM)
    end_with_user_turn(payload)
    return True


def thinks(body: dict[str, Any], mode: Mode) -> bool:
    """True when the request asks a model that thinks in `mode` to think, and it can."""
    effort = body.get("reasoning_effort")
    return effort not in (None, "none") and mode.kind != "none"


def drop_thinking(payload: dict[str, Any]) -> None:
    """Take thinking out of `payload` again (`thinking` and `output_config.effort`)."""
    payload.pop("thinking", None)
    config = payload.get("output_config")
    if isinstance(config, dict):
        config.pop("effort", None)
        if not config:
            payload.pop("output_config")


def _budget(body: dict[str, Any], effort: str, limit: int | None) -> int:
    """The budget for `effort` under the client's limit: at most half of it, so the answer keeps
    room, but never below Anthropic's minimum; a limit with no room for that is a 400."""
    if limit is None:
        return BUDGETS[effort]
    if limit <= MIN_BUDGET:
        given = body.get("max_completion_tokens") is not None
        param = "max_completion_tokens" if given else "max_tokens"
        raise InvalidRequestError(
            f"Invalid '{param}': integer below minimum value. Expected a value >= "
            f"{MIN_BUDGET + 1} with 'reasoning_effort' on this model, as its thinking budget "
            f"(at least {MIN_BUDGET} tokens) counts toward the limit, but got {limit} instead.",
            param=param,
            code="integer_below_min_value",
        )
    return min(BUDGETS[effort], max(MIN_BUDGET, limit // 2))


def _check_sampling(body: dict[str, Any], payload: dict[str, Any]) -> None:
    """Refuse the sampling values thinking does not take; temperature ≥ 1 means its 1."""
    temperature = body.get("temperature")
    if temperature is not None and temperature < 1:
        raise _unsupported_value("temperature", temperature, "Only the default (1) value is")
    # 1 is Anthropic's default and above 1 is clamped to it: sending none asks the same.
    payload.pop("temperature", None)
    top_p = body.get("top_p")
    low, high = TOP_P_RANGE
    if top_p is not None and not low <= top_p <= high:
        raise _unsupported_value("top_p", top_p, f"Only values from {low:g} to {high:g} are")
    if body.get("top_k") is not None:
        raise UnsupportedError(
            "Unsupported parameter: 'top_k' is not supported with this model when "
            "'reasoning_effort' is set.",
            param="top_k",
        )


def _unsupported_value(param: str, value: Any, allowed: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Unsupported value: '{param}' does not support {value} with this model when "
        f"'reasoning_effort' is set. {allowed} supported.",
        param=param,
        code="unsupported_value",
    )


# Why each field that forces a tool call is refused, and what the client can send instead.
_FORCED = {
    "tool_choice": "'tool_choice' cannot require a tool call",
    "function_call": "'function_call' cannot name a function",
    "response_format": "'response_format' of type 'json_schema' (answered by a forced tool call, "
    "as this model has no structured outputs) is not available",
}
_INSTEAD = {
    "tool_choice": "Use 'auto' or 'none'",
    "function_call": "Use 'auto' or 'none'",
    "response_format": "Use 'json_object'",
}


def _forced_error(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Unsupported value: {_FORCED[param]} with this model when 'reasoning_effort' is set, "
        f"as its thinking does not allow forced tool use. {_INSTEAD[param]}, or leave out "
        "'reasoning_effort'.",
        param=param,
        code="unsupported_value",
    )
