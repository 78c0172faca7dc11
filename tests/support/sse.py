"""A raw server-sent-events reader over `requests`, keeping the exact bytes and arrival times."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass
class SSEEvent:
    """One event: its `data:` payload, its bytes as sent, and when its last byte arrived."""

    data: str
    raw: bytes
    arrived: float


@dataclass
class SSEResult:
    """A streamed (or refused) response read to its end."""

    status: int
    headers: requests.structures.CaseInsensitiveDict
    started: float
    events: list[SSEEvent] = field(default_factory=list)
    body: bytes = b""

    @property
    def data(self) -> list[str]:
        """The `data:` payloads in order, `[DONE]` included."""
        return [event.data for event in self.events]

    def json(self) -> Any:
        """The body of a non-stream answer (an error, for instance)."""
        return json.loads(self.body)


def event_data(raw: bytes) -> str:
    """The payload of one event; the gateway writes nothing but `data: ` lines."""
    lines = raw.decode("utf-8").split("\n")
    for line in lines:
        assert line.startswith("data: "), f"not a `data: ` line: {line!r} in {raw!r}"
    return "\n".join(line.removeprefix("data: ") for line in lines)


def iter_sse(response: requests.Response) -> Iterator[SSEEvent]:
    """Yield events as their bytes arrive; fail if the stream stops inside an event."""
    buffer = b""
    for piece in response.iter_content(chunk_size=None):
        arrived = time.monotonic()
        buffer += piece
        while b"\n\n" in buffer:
            raw, buffer = buffer.split(b"\n\n", 1)
            yield SSEEvent(event_data(raw), raw + b"\n\n", arrived)
    assert buffer == b"", f"the stream ended inside an event: {buffer!r}"


def post_sse(
    url: str, body: dict[str, Any], api_key: str | None = None, timeout: float = 30.0
) -> SSEResult:
    """POST `body` and read the answer raw: every event of a stream, or the whole JSON body."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    started = time.monotonic()
    with requests.post(url, json=body, headers=headers, stream=True, timeout=timeout) as response:
        result = SSEResult(response.status_code, response.headers, started)
        if response.headers.get("Content-Type", "").startswith("text/event-stream"):
            result.events = list(iter_sse(response))
            result.body = b"".join(event.raw for event in result.events)
        else:
            result.body = response.content
    return result
