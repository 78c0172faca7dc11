"""OpenAI's rate-limit response headers and its way of writing durations ("6m0s", "20ms")."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.ratelimit.limits import Limits, Outcome


def duration(seconds: float) -> str:
    """A duration the way OpenAI's reset headers write it: "20ms", "1.5s", "6m0s", "1h0m0s"."""
    # Rounded first so that float noise (7.66 * 1000 = 7660.000000000001) does not add 1 ms.
    millis = max(0, math.ceil(round(seconds * 1000, 3)))
    if millis == 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, fraction = divmod(rest, 1000)
    text = f"{whole}.{fraction:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def retry_after(seconds: float) -> str:
    """`Retry-After` in whole seconds, rounded up and at least 1."""
    return str(max(1, math.ceil(seconds)))


def rate_headers(limits: Limits, outcome: Outcome) -> dict[str, str]:
    """The `x-ratelimit-*` trio for each limit the key has."""
    headers: dict[str, str] = {}
    reset = duration(outcome.reset)
    for kind, limit, used in (
        ("requests", limits.rpm, outcome.requests),
        ("tokens", limits.tpm, outcome.tokens),
    ):
        if limit:
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, limit - used))
            headers[f"x-ratelimit-reset-{kind}"] = reset
    return headers
