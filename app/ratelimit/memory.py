"""Rate-limit windows kept in this process (the default; one set of counts per worker)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.ratelimit.limits import Limits, Outcome, exceeded


@dataclass
class _Window:
    id: str
    ends: float
    requests: int = 0
    tokens: int = 0


class MemoryStore:
    """Fixed windows per key in a dict, changed under a lock so each take is atomic."""

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def take(self, bucket: str, limits: Limits, cost: int) -> Outcome:
        """Admit one request costing `cost` tokens if it fits in the key's window."""
        now = self.clock()
        with self._lock:
            window = self._windows.get(bucket)
            if window is None or now >= window.ends:
                window = self._windows[bucket] = _Window(str(next(self._ids)), now + self.window)
            verdict = exceeded(limits, window.requests, window.tokens, cost)
            if verdict is None:
                window.requests += 1
                window.tokens += cost
            return Outcome(verdict, window.id, window.requests, window.tokens, window.ends - now)

    def adjust(self, bucket: str, window_id: str, delta: int) -> None:
        """Add `delta` tokens to the key's window if it is the one the request was counted in."""
        with self._lock:
            window = self._windows.get(bucket)
            if window is not None and window.id == window_id and self.clock() < window.ends:
                window.tokens = max(0, window.tokens + delta)

    def close(self) -> None:
        """Nothing to release."""
