"""An upstream body off the wire: read size, content coding, the end of a complete stream."""

from __future__ import annotations

import functools
import http.client
import time
from collections.abc import Iterator
from typing import Any

import requests

from app.backends import upstream_deadline as deadlines
from app.errors import APIError

# Largest single read from a body; smaller reads return as soon as anything has arrived.
READ_SIZE = 64 * 1024
# What is read of a body after its complete answer, so the connection can serve again; past
# either bound it is closed instead. Short: the client's own response ends only after it.
FINISH_SECONDS = 0.25
FINISH_BYTES = 64 * 1024


def finish(response: requests.Response, reads: Iterator[bytes]) -> None:
    """End a stream whose answer is complete, `reads` being what is left of `iter_bytes`.

    The rest of the body (normally just its end) is read if it ends within
    `FINISH_SECONDS` and `FINISH_BYTES`, and the connection goes back to the pool; else
    (a stall, pings, more data) it is closed: unread body must never meet the next request.
    """
    raw = response.raw
    # Instead of `read_timeout`; urllib3 sets it again before the next request.
    deadlines.set_wait(deadlines.socket_of(response), FINISH_SECONDS)
    wire = getattr(raw, "_fp", None)
    try:
        if isinstance(wire, http.client.HTTPResponse) and identity(raw):
            # From the wire, past `reads`: a stall here is routine, not worth its warning.
            rest = iter(functools.partial(wire.read1, READ_SIZE), b"")
            ended = _ends_soon(rest) and not wire.length
            if ended:
                release(raw, wire)
        else:
            ended = _ends_soon(reads)
    except (APIError, http.client.HTTPException, OSError):
        ended = False
    if not ended:
        response.close()


def release(raw: Any, wire: http.client.HTTPResponse) -> None:
    """Put the connection of a body read to its end (`wire`, under urllib3's `raw`) back in
    its pool, ready for the next request.

    http.client marks a response closed only when a read asking for bytes comes back empty; at
    the end of a Content-Length body `read1` asks for none, so the response would stay open and
    its connection refuse the next request sent on it (ResponseNotReady) until the response is
    closed, which may come after another request has taken the connection from the pool.
    """
    wire.close()
    raw.release_conn()


def identity(raw: Any) -> bool:
    """True when the body is sent as is (no content coding for urllib3 to undo)."""
    coding = raw.headers.get("Content-Encoding", "")
    return not coding or coding.strip().lower() == "identity"


def _ends_soon(chunks: Iterator[bytes]) -> bool:
    """True when `chunks` end within `FINISH_SECONDS` and `FINISH_BYTES` (read meanwhile)."""
    deadline = time.monotonic() + FINISH_SECONDS
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > FINISH_BYTES or time.monotonic() > deadline:
            return False
    return True
