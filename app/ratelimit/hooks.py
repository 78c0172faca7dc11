"""Binds rate limits to the app: the check on admission, the headers, the settlement at the end."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g

from app import observe
from app.errors import APIError
from app.keys import ClientKey
from app.ratelimit import estimate
from app.ratelimit.headers import rate_headers
from app.ratelimit.limits import Limits, Reservation, Store, StoreUnavailable, refusal
from app.ratelimit.memory import MemoryStore

log = logging.getLogger(__name__)

_UNAVAILABLE = "The gateway cannot check rate limits right now. Please try again shortly."


class Limiter:
    """The app's store and what to do when it cannot be reached."""

    def __init__(self, store: Store, fail_open: bool) -> None:
        self.store = store
        self.fail_open = fail_open

    def unavailable(self, exc: StoreUnavailable) -> None:
        """Admit the request (fail open) or refuse it with a 503 (fail closed)."""
        if self.fail_open:
            log.debug("rate limits not checked: %s", exc)
            return
        raise APIError(
            _UNAVAILABLE,
            status=503,
            type="server_error",
            code="rate_limit_unavailable",
            headers={"Retry-After": "1"},
        ) from exc

    def settle(self, exchange: observe.Exchange) -> None:
        """Observer: replace the token estimate with the usage the response reported."""
        reservation: Reservation | None = exchange.extra.get("ratelimit")
        used = _tokens_used(exchange)
        if reservation is None or used is None or used == reservation.tokens:
            return
        try:
            self.store.adjust(reservation.bucket, reservation.window_id, used - reservation.tokens)
        except StoreUnavailable as exc:
            log.debug("request %s: token usage not settled: %s", exchange.request_id, exc)


def _tokens_used(exchange: observe.Exchange) -> int | None:
    """Real tokens of the exchange; 0 for a failed request without usage; None when unknown."""
    if exchange.prompt_tokens is not None or exchange.completion_tokens is not None:
        return (exchange.prompt_tokens or 0) + (exchange.completion_tokens or 0)
    return 0 if exchange.status >= 400 else None


def limits_of(key: ClientKey) -> Limits:
    """The key's limits (the gateway defaults are already applied to it)."""
    return Limits(key.rpm or 0, key.tpm or 0)


def admit(key: ClientKey, body: dict[str, Any]) -> None:
    """Count one request and its prompt estimate against the key's limits; 429 when over."""
    limits = limits_of(key)
    if not limits.active:
        return
    limiter: Limiter = current_app.extensions["gateway.ratelimit"]
    model = body.get("model") if isinstance(body.get("model"), str) else ""
    cost = estimate.prompt_tokens(body, model) if limits.tpm else 0
    try:
        outcome = limiter.store.take(key.bucket, limits, cost)
    except StoreUnavailable as exc:
        limiter.unavailable(exc)
        return
    g.ratelimit = (limits, outcome)
    if outcome.exceeded:
        raise refusal(model or "this model", limits, outcome, cost)
    exchange = observe.current()
    if exchange is not None and limits.tpm:
        exchange.extra["ratelimit"] = Reservation(key.bucket, outcome.window_id, cost)


def _add_headers(response: Response) -> Response:
    state = g.get("ratelimit")
    if state is not None:
        response.headers.update(rate_headers(*state))
    return response


def make_store(settings: Any) -> Store:
    """Redis when `REDIS_URL` is set, else this process's memory."""
    window = float(settings.get("RATE_LIMIT_WINDOW_SECONDS", 60))
    if window <= 0:
        raise ValueError(f"RATE_LIMIT_WINDOW_SECONDS must be above 0, not {window}")
    url = settings.get("REDIS_URL")
    if url:
        # The Redis client costs a worker some 20 MB of imports: only when it is used.
        from app.ratelimit.redis_store import RedisStore

        return RedisStore(url, window, float(settings.get("REDIS_TIMEOUT_SECONDS", 0.5)))
    return MemoryStore(window)


def init_app(app: Flask) -> None:
    """Create the store, add the headers to API responses and settle tokens when they end."""
    limiter = Limiter(make_store(app.config), bool(app.config.get("RATE_LIMIT_FAIL_OPEN", True)))
    app.extensions["gateway.ratelimit"] = limiter
    app.after_request(_add_headers)
    observe.add_observer(app, limiter.settle)
