"""The upstream's own model list (`GET /models`), cached per worker for a configured time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from app.errors import APIError, UpstreamError

log = logging.getLogger(__name__)

# A failed listing is retried after at most this many seconds, not after the full TTL.
FAILURE_TTL = 30.0


class ModelListCache:
    """Calls `fetch` at most once per `ttl` seconds; a failure is logged and lists nothing."""

    def __init__(self, name: str, fetch: Callable[[], list[dict[str, Any]]], ttl: float) -> None:
        self.name = name
        self.fetch = fetch
        self.ttl = ttl
        self._models: list[dict[str, Any]] = []
        self._expires = 0.0
        # One listing at a time: concurrent requests wait for it instead of repeating it.
        self._lock = threading.Lock()

    def get(self) -> list[dict[str, Any]]:
        """The cached list, fetched again once it is older than the TTL."""
        if time.monotonic() < self._expires:
            return self._models
        with self._lock:
            now = time.monotonic()
            if now >= self._expires:
                self._refresh(now)
            return self._models

    def _refresh(self, now: float) -> None:
        try:
            self._models = self.fetch()
            self._expires = now + self.ttl
        except APIError as exc:
            log.warning(
                "backend %s: model listing failed (%s %s); its models are not listed",
                self.name,
                exc.status,
                exc.message,
            )
            self._models = []
            self._expires = now + min(self.ttl, FAILURE_TTL)


def model_objects(body: Any) -> list[dict[str, Any]]:
    """The model objects of a `GET /models` answer; anything else is an UpstreamError."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise UpstreamError("The upstream model list has no `data` array.")
    return [item for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]
