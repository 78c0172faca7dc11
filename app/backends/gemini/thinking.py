"""`reasoning_effort` as the `thinkingConfig` each Gemini model family accepts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app.errors import InvalidRequestError

# Gemini 2.5 (and any model not known to take levels): reasoning_effort → thinking budget in
# tokens; 0 turns thinking off where a model allows it, -1 lets the model decide up to its
# own maximum.
THINKING_BUDGETS = {
    "none": 0,
    "minimal": 512,
    "low": 1024,
    "medium": 8192,
    "high": 24576,
    "xhigh": -1,
    "max": -1,
}
# Gemini 3 takes a thinking level instead, from the least thinking to the most.
LEVELS = ("minimal", "low", "medium", "high")
# The level each effort asks for, before it is fitted to the levels the model takes. No level
# turns thinking off: `none` gets the least thinking the model does.
EFFORT_LEVELS = {
    "none": "minimal",
    "minimal": "minimal",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
# The levels a Gemini 3 model takes, by upstream model id (the first match wins): Pro models
# refuse "minimal", and 3 Pro also "medium"; a level a model refuses is a 400.
MODEL_LEVELS = (
    (re.compile(r"gemini-3-pro"), ("low", "high")),
    (re.compile(r"gemini-3[.\d]*-pro"), ("low", "medium", "high")),
    (re.compile(r"gemini-3"), LEVELS),
)
# Models that take no thinking setting at all (Gemini refuses a `thinkingConfig` with 400
# "thinking is not supported by this model"): `reasoning_effort` is left out for them.
NO_THINKING = re.compile(r"gemini-1\.|gemini-2\.0|gemma")
# The smallest budget of models that cannot turn thinking off (they refuse a budget of 0).
MIN_BUDGETS = ((re.compile(r"gemini-2\.5-pro"), 128),)
# Both are refused together, so the request's setting replaces the backend default's.
_EFFORT_KEYS = ("thinkingBudget", "thinkingLevel")


def thinking_config(effort: str, model: str) -> dict[str, Any]:
    """The thinking setting for an OpenAI `reasoning_effort` on `model` (the upstream id):
    a `thinkingLevel` the model takes for Gemini 3, a `thinkingBudget` otherwise."""
    _check_effort(effort)
    name = model.removeprefix("models/")
    levels = _first_match(MODEL_LEVELS, name)
    if levels is not None:
        return {"thinkingLevel": nearest_level(EFFORT_LEVELS[effort], levels)}
    budget = THINKING_BUDGETS[effort]
    floor = _first_match(MIN_BUDGETS, name) or 0
    return {"thinkingBudget": floor if 0 <= budget < floor else budget}


def with_effort(defaults: Any, effort: str, model: str) -> Any:
    """`thinkingConfig`: the backend default's own settings (e.g. `includeThoughts`) kept,
    its budget or level replaced by the one for the request's `reasoning_effort`; the default
    as it is (None when there is none) for a model that takes no thinking setting."""
    if NO_THINKING.match(model.removeprefix("models/")):
        _check_effort(effort)
        return defaults
    kept = {}
    if isinstance(defaults, Mapping):
        kept = {key: value for key, value in defaults.items() if key not in _EFFORT_KEYS}
    return {**kept, **thinking_config(effort, model)}


def _check_effort(effort: str) -> None:
    if effort not in EFFORT_LEVELS:
        raise InvalidRequestError(
            f"Invalid value for `reasoning_effort`: {effort!r}.", param="reasoning_effort"
        )


def nearest_level(level: str, accepted: tuple[str, ...]) -> str:
    """The accepted level closest to `level`; a tie goes to the higher one, so `medium` on
    Gemini 3 Pro gets that model's default, `high`, rather than less thinking."""
    rank = LEVELS.index(level)
    return min(accepted, key=lambda a: (abs(LEVELS.index(a) - rank), -LEVELS.index(a)))


def _first_match(table: tuple[tuple[re.Pattern[str], Any], ...], name: str) -> Any:
    return next((value for pattern, value in table if pattern.match(name)), None)
