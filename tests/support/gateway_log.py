"""Read the gateway's request log (one JSON object per line) out of a server's output."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support.servers import ServerProcess


def request_lines(server: ServerProcess) -> list[dict[str, Any]]:
    """Every request log entry the server wrote so far, in order."""
    entries = []
    for line in server.output().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if "request_id" in entry:
                entries.append(entry)
    return entries


def entry_for(server: ServerProcess, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The log entry of one request; it is written when the response ends, so wait for it."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in request_lines(server) if e["request_id"] == request_id]
        if found:
            assert len(found) == 1, found
            return found[0]
        assert time.monotonic() < deadline, (
            f"no log line for {request_id}:\n{server.output()[-3000:]}"
        )
        time.sleep(0.05)
