"""Send a validated request to its backend, with retries and fallbacks before the first byte."""

from __future__ import annotations

import itertools
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app, g

from app import gateway
from app.backends import Call, Result, Stream
from app.errors import APIError
from app.routing import Route

log = logging.getLogger(__name__)


@dataclass
class Answer:
    """What a backend produced, and the route that produced it."""

    route: Route
    result: Result


def _prime(stream: Stream) -> Stream:
    """Pull the first event so that failures before any byte is sent can still be retried."""
    events = iter(stream.events)
    try:
        first = next(events)
    except StopIteration:
        return stream
    except BaseException:
        stream.close()
        raise
    stream.events = itertools.chain([first], events)
    return stream


def _backoff(attempt: int, error: APIError) -> float:
    settings = current_app.config
    cap = float(settings.get("RETRY_BACKOFF_MAX", 8.0))
    retry_after = error.headers.get("Retry-After") or error.headers.get("retry-after")
    if retry_after:
        try:
            return min(float(retry_after), cap)
        except ValueError:
            pass
    base = float(settings.get("RETRY_BACKOFF_BASE", 0.25)) * (2**attempt)
    # Full jitter keeps many clients that failed together from retrying together.
    return min(cap, random.uniform(base / 2, base))


def _attempt(operation: str, route: Route, body: dict[str, Any]) -> Result:
    backend = gateway.backends()[route.backend]
    call = Call(body, route, g.get("client_token"), g.get("request_id", ""))
    result = getattr(backend, operation)(call)
    return _prime(result) if isinstance(result, Stream) else result


def dispatch(operation: str, body: dict[str, Any]) -> Answer:
    """Run `operation` ("chat", "completion", "embeddings") for `body` on its model's backend.

    Retryable failures (connection errors, 429, 5xx) are retried `retries` times with
    exponential backoff and jitter, then each fallback model is tried in order.
    """
    error: APIError | None = None
    for route in gateway.models().chain(body["model"]):
        for attempt in range(route.retries + 1):
            if error is not None and attempt > 0:
                time.sleep(_backoff(attempt - 1, error))
            try:
                return Answer(route, _attempt(operation, route, body))
            except APIError as exc:
                if not exc.retryable:
                    raise
                error = exc
                log.info(
                    "request %s: %s/%s failed (%s), attempt %d",
                    g.get("request_id", "-"),
                    route.backend,
                    route.upstream_model,
                    exc.status,
                    attempt + 1,
                )
    assert error is not None
    raise error
