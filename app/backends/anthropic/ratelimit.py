"""Anthropic's `anthropic-ratelimit-*` headers as the `x-ratelimit-*` ones OpenAI clients read."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

from app.ratelimit.headers import duration

_KINDS = ("requests", "tokens")
_FIELDS = ("limit", "remaining", "reset")


def openai_ratelimit_headers(
    headers: Mapping[str, str], now: float | None = None
) -> dict[str, str]:
    """`anthropic-ratelimit-<kind>-<field>` → `x-ratelimit-<field>-<kind>`, for requests and tokens.

    Anthropic's reset is an RFC 3339 time; OpenAI's is the time left, written like "6m0s",
    counted from `now` (Unix seconds, default the current time). Unreadable resets are left out.
    """
    now = time.time() if now is None else now
    lowered = {name.lower(): value for name, value in headers.items()}
    result: dict[str, str] = {}
    for kind in _KINDS:
        for field in _FIELDS:
            value = lowered.get(f"anthropic-ratelimit-{kind}-{field}")
            if value is None:
                continue
            value = value.strip() if field != "reset" else _time_left(value, now)
            if value:
                result[f"x-ratelimit-{field}-{kind}"] = value
    return result


def _time_left(value: str, now: float) -> str | None:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # A reset already past (clocks differ a little) is "0s": the limit is full again.
    return duration(moment.timestamp() - now)
