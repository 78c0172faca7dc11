"""A clock that tests move by hand."""

from __future__ import annotations


class Clock:
    """Seconds from a fixed start, moved by setting or adding to `now`; called, it tells the
    time (it stands in for `time.monotonic`)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
