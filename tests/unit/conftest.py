"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from app.backends import discovery


@pytest.fixture
def upstream() -> Iterator[responses.RequestsMock]:
    """A strict `responses` mock of the upstream: every answer a test adds must be asked for."""
    with responses.RequestsMock() as mock:
        yield mock


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """`time.monotonic` for the whole test (the model-listing caches read it), moved by hand."""
    fake = Clock()
    monkeypatch.setattr(discovery.time, "monotonic", fake.monotonic)
    return fake
