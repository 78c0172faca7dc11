"""Deterministic log probabilities for the mock's text replies (`logprobs`, `top_logprobs`)."""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

# Stand-ins for the tokens the mock "nearly" chose; any token but the chosen one will do.
_ALTERNATIVES = (
    " the", " a", " and", " of", " to", " is", " in", " it", " that", " for",
    ",", ".", " this", " with", " as", " on", " be", " or", " an", " are",
    " not", " can", " you", " we", " they",
)  # fmt: skip


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def token_logprobs(pieces: list[str], seed: str, top: int) -> list[dict[str, Any]]:
    """One ChatCompletionTokenLogprob per piece, the same for the same `seed`.

    The chosen token is always the most likely; `top` > 0 lists it first among `top`
    candidates whose probabilities never add up to more than one.
    """
    digest = hashlib.sha256(f"logprobs|{seed}".encode("utf-8", "surrogatepass")).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    items = []
    for piece in pieces:
        # Mostly close to 0 (a confident model), now and then a less certain token.
        chosen = -round(rng.expovariate(6.0), 6)
        item = _entry(piece, chosen)
        candidates = [_entry(piece, chosen)] if top else []
        previous = math.exp(chosen)
        left = 1.0 - previous
        for token in rng.sample([t for t in _ALTERNATIVES if t != piece], max(0, top - 1)):
            # Part of what is left, and less than the candidate before: the list falls.
            share = min(left * rng.uniform(0.2, 0.6), previous * 0.9)
            left -= share
            previous = share
            candidates.append(_entry(token, round(math.log(max(share, 1e-12)), 6)))
        item["top_logprobs"] = candidates
        items.append(item)
    return items


def choice_logprobs(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    """A choice's `logprobs` object for `items` (None: a reply that calls functions)."""
    return {"content": items, "refusal": None}
