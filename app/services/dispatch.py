"""Send a validated request to its backend, with retries and fallbacks before the first byte."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from flask import current_app, g, request

from app import client_watch, gateway, metrics, observe
from app.backends import Call, Result, Stream
from app.errors import APIError, ModelNotFoundError
from app.routing import Route
from app.services import endpoints, first_event

log = logging.getLogger(__name__)

# Indirection so tests can skip the waits.
sleep = time.sleep


@dataclass
class Answer:
    """What a backend produced, and the route that produced it."""

    route: Route
    result: Result


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the upstream asked us to wait (`retry-after-ms`, `retry-after`), if it said."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        if "retry-after" in lowered:
            value = lowered["retry-after"].strip()
            if value.replace(".", "", 1).isdigit():
                return float(value)
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (ValueError, TypeError, OverflowError):
        return None
    return None


def backoff(attempt: int, error: APIError, base: float, cap: float) -> float:
    """Seconds before retry `attempt` (0 = first retry): Retry-After, else jittered 2**n, capped."""
    hinted = retry_after(error.headers)
    if hinted is not None:
        return min(hinted, cap)
    delay = min(cap, base * 2**attempt)
    # Jitter keeps many clients that failed together from retrying together.
    return random.uniform(delay / 2, delay)


def routes_for(model: str, operation: str) -> list[Route]:
    """The model's route, then its fallbacks' routes in order (theirs are not followed).

    A model that does not serve `operation` is refused as OpenAI refuses it; a fallback that
    does not is left out.
    """
    registry = gateway.models()
    first = registry.resolve(model)
    if not endpoints.serves(first, operation):
        raise endpoints.refusal(first, operation)
    routes, seen = [first], {model}
    for fallback in first.fallbacks:
        if fallback in seen:
            continue
        seen.add(fallback)
        try:
            route = registry.resolve(fallback)
        except ModelNotFoundError:
            log.warning("model %s: fallback %s is not in the models file", model, fallback)
            continue
        if endpoints.serves(route, operation):
            routes.append(route)
    return routes


def _attempt(operation: str, route: Route, body: dict[str, Any]) -> Result:
    backend = gateway.backends()[route.backend]
    call = Call(body, route, g.get("client_token"), g.get("request_id", ""))
    result = getattr(backend, operation)(call)
    if not isinstance(result, Stream):
        return result
    exchange = observe.current()
    keepalive = float(current_app.config.get("STREAM_KEEPALIVE_SECONDS", 0.0))
    # Failures before the first event can still be retried: it is awaited here.
    return first_event.prime(result, keepalive, exchange.started if exchange else None)


def dispatch(operation: str, body: dict[str, Any]) -> Answer:
    """Run `operation` ("chat", "completion", "embeddings") for `body` on its model's backend.

    A retryable failure (connection error, timeout, 429, 5xx) before the first byte is retried
    `retries` times with exponential backoff and jitter, then each fallback model is tried in
    order with its own `retries`. Any other error reaches the client at once. Every failed
    attempt is counted in the metrics, rescued or not. A client that leaves meanwhile ends
    the request at once (app.client_watch): no further attempt is made for nobody.
    """
    settings = current_app.config
    base = float(settings.get("RETRY_BACKOFF_BASE", 0.25))
    cap = float(settings.get("RETRY_BACKOFF_MAX", 8.0))
    exchange = observe.current()
    if exchange is not None:
        exchange.model = body.get("model")
    with client_watch.upstream_wait(request.environ):
        return _first_answer(operation, body, base, cap)


def _first_answer(operation: str, body: dict[str, Any], base: float, cap: float) -> Answer:
    request_id = g.get("request_id", "-")
    error: APIError | None = None
    for route in routes_for(body["model"], operation):
        for attempt in range(route.retries + 1):
            if attempt and error is not None:
                sleep(backoff(attempt - 1, error, base, cap))
            try:
                return Answer(route, _attempt(operation, route, body))
            except APIError as exc:
                metrics.attempt_failed(route, exc)
                if not exc.retryable:
                    raise
                error = exc
                log.info(
                    "request %s: %s/%s failed (%s %s), attempt %d of %d",
                    request_id,
                    route.backend,
                    route.upstream_model,
                    exc.status,
                    exc.code or exc.type,
                    attempt + 1,
                    route.retries + 1,
                )
    assert error is not None
    try:
        raise error
    finally:
        # The traceback holds this frame: without its local the error and the request it
        # holds are freed as the request ends, not left in a cycle.
        error = None
