"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses


@pytest.fixture
def upstream() -> Iterator[responses.RequestsMock]:
    """A strict `responses` mock of the upstream: every answer a test adds must be asked for."""
    with responses.RequestsMock() as mock:
        yield mock
