"""A Gemini candidate's `logprobsResult` as an OpenAI choice's `logprobs`."""

from __future__ import annotations

import math
from typing import Any

from app.backends.gemini.errors import malformed

# OpenAI's log probability for a token too unlikely to have a real one.
VERY_UNLIKELY = -9999.0


def top_logprobs(body: dict[str, Any]) -> int | None:
    """How many alternatives each token lists (`top_logprobs`, default 0), or None when the
    request did not ask for `logprobs` (the choices' `logprobs` then stay null)."""
    if body.get("logprobs") is not True:
        return None
    return body.get("top_logprobs") or 0


def candidate_logprobs(candidate: dict[str, Any] | None, top: int | None) -> dict[str, Any] | None:
    """A choice's (or a chunk's) `logprobs`: null unless asked for (`top` None); with null
    `content` for a choice without content (`candidate` None: only tool calls, filtered or
    blocked), as OpenAI sends it."""
    if top is None:
        return None
    items = None if candidate is None else token_logprobs(candidate, top)
    return {"content": items, "refusal": None}


def token_logprobs(candidate: dict[str, Any], top: int) -> list[dict[str, Any]]:
    """One ChatCompletionTokenLogprob per token the candidate chose, each with at most `top`
    alternatives; none when Gemini sent no `logprobsResult`."""
    result = candidate.get("logprobsResult")
    if result is None:
        return []
    if not isinstance(result, dict):
        raise malformed()
    steps = _objects(result.get("topCandidates"))
    items = []
    for position, chosen in enumerate(_objects(result.get("chosenCandidates"))):
        item = _entry(chosen)
        alternatives = _objects(steps[position].get("candidates")) if position < len(steps) else []
        item["top_logprobs"] = [_entry(alternative) for alternative in alternatives[:top]]
        items.append(item)
    return items


def _entry(candidate: dict[str, Any]) -> dict[str, Any]:
    # Proto3 JSON leaves out default values: a missing token is "", a missing probability 0.0.
    token = candidate.get("token", "")
    if not isinstance(token, str):
        raise malformed()
    data = list(token.encode("utf-8", "surrogatepass"))
    return {
        "token": token,
        "logprob": _logprob(candidate.get("logProbability", 0.0)),
        "bytes": data,
    }


def _logprob(value: Any) -> float:
    # Proto3 JSON writes an infinite float as a string; JSON has no number for it.
    if value in ("-Infinity", -math.inf):
        return VERY_UNLIKELY
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise malformed()
    return value


def _objects(value: Any) -> list[dict[str, Any]]:
    """A repeated message field: missing is empty; anything but a list of objects is malformed."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise malformed()
    return value
