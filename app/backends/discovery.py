"""A backend's own model list (for `/v1/models`), cached per worker for a configured time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from app.errors import APIError, UpstreamError

log = logging.getLogger(__name__)

# Seconds a listing is kept when the backend's options set no `discover_ttl`.
DEFAULT_TTL = 300.0
# A failed listing is retried after at most this many seconds, not after the full TTL.
FAILURE_TTL = 30.0
# Models taken from one listing: a misbehaving upstream must not make `/v1/models` (and the
# worker's memory and CPU spent on it) unboundedly large.
MAX_MODELS = 10_000
# Upper bound (s) for a whole model listing (headers and body), whatever the timeouts say:
# `/v1/models` waits for it.
LIST_TIMEOUT = 10.0


class ModelListCache:
    """Calls `fetch` at most once per `ttl` s, keeps MAX_MODELS at most; a failure lists none."""

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
            models = self.fetch()
        except APIError as exc:
            log.warning(
                "backend %s: model listing failed (%s %s); its models are not listed",
                self.name,
                exc.status,
                exc.message,
            )
            self._failed(now)
            return
        except Exception:
            # A listing the backend could not make sense of must not turn `/v1/models` into
            # a 500 on every call: logged, and tried again after FAILURE_TTL.
            log.exception("backend %s: model listing failed; its models are not listed", self.name)
            self._failed(now)
            return
        if len(models) > MAX_MODELS:
            log.warning(
                "backend %s: the upstream lists %d models; only the first %d are listed",
                self.name,
                len(models),
                MAX_MODELS,
            )
            models = models[:MAX_MODELS]
        self._models = models
        self._expires = now + self.ttl

    def _failed(self, now: float) -> None:
        self._models = []
        self._expires = now + min(self.ttl, FAILURE_TTL)


def listed_items(body: Mapping[str, Any], key: str, name: str) -> list[Any]:
    """The `key` array of a listing's JSON body (absent or null: empty); anything else is an
    UpstreamError."""
    items = body.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise UpstreamError(f"Upstream `{name}` sent a model list whose `{key}` is no array.")
    return items


def ttl_option(name: str, options: Mapping[str, Any]) -> float:
    """The backend's `discover_ttl` in seconds (default DEFAULT_TTL); negative is refused."""
    ttl = float(options.get("discover_ttl", DEFAULT_TTL))
    if ttl < 0:
        raise ValueError(f"backend `{name}`: discover_ttl must not be negative")
    return ttl
