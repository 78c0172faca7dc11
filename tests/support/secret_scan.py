"""A pytest plugin that collects every output the reliability suites capture and scans it.

Suites configure the recognisable `PROVIDER_SECRET` and `CLIENT_SECRET` and hand everything
they see (response bodies and headers, stream events, gateway process output, log records,
metrics pages) to the session's `SecretScan` through the `secret_scan` fixture. When the
session ends, no captured text may contain either secret; a leak fails the run with the
place it was seen.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

PROVIDER_SECRET = "sk-PROVIDER-SECRET-4f2a"
CLIENT_SECRET = "sk-CLIENT-SECRET-9b1c"
SECRETS = (PROVIDER_SECRET, CLIENT_SECRET)


@dataclass(repr=False)
class SecretScan:
    """Everything captured so far, scanned on demand and at the end of the session."""

    secrets: tuple[str, ...] = SECRETS
    captured: list[tuple[str, str]] = field(default_factory=list, repr=False)

    def __repr__(self) -> str:
        return f"SecretScan({len(self.captured)} outputs captured)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # hypothesis prints the arguments of a failing example with this.
        printer.text(repr(self))

    def add(self, where: str, output: str | bytes | Iterable[tuple[str, str]]) -> None:
        """Keep one captured output (bytes are scanned as Latin-1, so any byte matches)."""
        if isinstance(output, bytes):
            output = output.decode("latin-1")
        elif not isinstance(output, str):
            output = "\n".join(f"{name}: {value}" for name, value in output)
        self.captured.append((where, output))

    def leaks(self) -> list[str]:
        """`where: secret` for every captured output that holds a secret."""
        return [
            f"{where}: {secret}"
            for where, text in self.captured
            for secret in self.secrets
            if secret in text
        ]

    def check(self) -> None:
        """Fail if any captured output holds a secret."""
        leaks = self.leaks()
        assert not leaks, "secrets leaked:\n" + "\n".join(leaks[:20])


class ScanHandler(logging.Handler):
    """A logging handler that formats records (exception traces included) into a scan."""

    def __init__(self, scan: SecretScan, where: str) -> None:
        super().__init__(logging.DEBUG)
        self.scan = scan
        self.where = where
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Format the record the way a log file would hold it, and keep it."""
        self.scan.add(f"{self.where} log", self.format(record))


_SESSION_SCAN = SecretScan()


@pytest.fixture(scope="session")
def secret_scan() -> Iterator[SecretScan]:
    """The session's scan; at the end of the session nothing captured may hold a secret."""
    yield _SESSION_SCAN
    assert _SESSION_SCAN.captured, "the secret scan captured nothing"
    _SESSION_SCAN.check()


@pytest.fixture
def scanned_logs(secret_scan: SecretScan, request: pytest.FixtureRequest) -> Iterator[None]:
    """Send every log record of the test (all loggers, all levels) to the secret scan."""
    handler = ScanHandler(secret_scan, request.node.nodeid)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield
    root.removeHandler(handler)
    root.setLevel(previous)
