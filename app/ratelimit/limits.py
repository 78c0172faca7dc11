"""The rate-limit policy: one fixed window per key, counting requests and tokens.

A key's first request opens its window; the window lasts `RATE_LIMIT_WINDOW_SECONDS` (60).
Within it at most `rpm` requests and `tpm` tokens are admitted; when it ends both counts start
again from zero with the next request. A request is refused, and not counted, when it would
take the requests count above `rpm` or the tokens count above `tpm`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.errors import APIError, RateLimitError
from app.ratelimit.headers import duration, retry_after


@dataclass(frozen=True)
class Limits:
    """A key's limits per window; 0 means no limit."""

    rpm: int = 0
    tpm: int = 0

    @property
    def active(self) -> bool:
        """True when at least one limit applies."""
        return self.rpm > 0 or self.tpm > 0


@dataclass(frozen=True)
class Outcome:
    """A store's answer: what was exceeded (if anything) and the window's counts after it."""

    exceeded: str | None  # "requests", "tokens" or None when admitted
    window_id: str
    requests: int
    tokens: int
    reset: float  # seconds until the window ends


@dataclass(frozen=True)
class Reservation:
    """The tokens charged on admission, settled against real usage when the response ends."""

    bucket: str
    window_id: str
    tokens: int


class StoreUnavailable(Exception):
    """The shared store could not be reached; the limiter then fails open or closed."""


class Store(Protocol):
    """Where windows are kept: in this process, or in Redis for every worker and instance."""

    def take(self, bucket: str, limits: Limits, cost: int) -> Outcome:
        """Admit one request costing `cost` tokens if it fits, atomically."""
        ...

    def adjust(self, bucket: str, window_id: str, delta: int) -> None:
        """Add `delta` tokens (negative gives them back) if that window is still open."""
        ...


def exceeded(limits: Limits, requests: int, tokens: int, cost: int) -> str | None:
    """Which limit one more request of `cost` tokens would break, if any."""
    if limits.rpm and requests + 1 > limits.rpm:
        return "requests"
    if limits.tpm and tokens + cost > limits.tpm:
        return "tokens"
    return None


def refusal(model: str, limits: Limits, outcome: Outcome, cost: int) -> APIError:
    """The 429 for a refused request, worded like OpenAI's."""
    wait = f"Please try again in {duration(outcome.reset)}."
    later = {"Retry-After": retry_after(outcome.reset)}
    if outcome.exceeded == "requests":
        return RateLimitError(
            f"Rate limit reached for {model} on requests per min (RPM): Limit {limits.rpm}, "
            f"Used {outcome.requests}, Requested 1. {wait}",
            type="requests",
            headers=later,
        )
    if cost > limits.tpm:
        # Waiting does not help a request larger than the whole limit, so no Retry-After.
        return RateLimitError(
            f"Request too large for {model} on tokens per min (TPM): Limit {limits.tpm}, "
            f"Requested {cost}. The input or output tokens must be reduced in order to run "
            "successfully.",
            type="tokens",
        )
    return RateLimitError(
        f"Rate limit reached for {model} on tokens per min (TPM): Limit {limits.tpm}, "
        f"Used {outcome.tokens}, Requested {cost}. {wait}",
        type="tokens",
        headers=later,
    )
