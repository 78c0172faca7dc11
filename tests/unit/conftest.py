"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import responses

from app.backends import discovery
from app.backends.http import UpstreamHTTP
from tests.support.clock import Clock
from tests.support.scripted_upstream import Scripted


@pytest.fixture
def upstream() -> Iterator[responses.RequestsMock]:
    """A strict `responses` mock of the upstream: every answer a test adds must be asked for."""
    with responses.RequestsMock() as mock:
        yield mock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """`time.monotonic` for the whole test (the model-listing caches read it), moved by hand."""
    fake = Clock()
    monkeypatch.setattr(discovery.time, "monotonic", fake)
    return fake


@pytest.fixture
def serve() -> Iterator[Callable[..., UpstreamHTTP]]:
    """Start a scripted upstream (tests.support.scripted_upstream) and return an UpstreamHTTP
    `up` for it, with the given connection options; all are closed after the test."""
    opened: list[Scripted | UpstreamHTTP] = []

    def start(*scripts: list[tuple[bytes | None, float]], **options: float) -> UpstreamHTTP:
        server = Scripted(list(scripts))
        http = UpstreamHTTP("up", f"http://127.0.0.1:{server.port}/v1", options)
        opened.extend((server, http))
        return http

    yield start
    for item in opened:
        item.close()
