"""Server-sent events: a generator response that writes each chunk as soon as it exists."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

from flask import Response, g

from app.backends import Stream
from app.errors import APIError

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # Tells nginx not to buffer the stream.
    "X-Accel-Buffering": "no",
}


def encode_event(payload: dict) -> bytes:
    """One `data:` event with compact JSON."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _events(stream: Stream, request_id: str) -> Iterator[bytes]:
    try:
        for event in stream.events:
            yield event if isinstance(event, bytes) else encode_event(event)
        if stream.append_done:
            yield DONE
    except APIError as exc:
        # Headers are gone already: the error travels as the stream's last event.
        log.warning("stream %s failed: %s %s", request_id, exc.status, exc.message)
        yield encode_event(exc.to_dict())
    except Exception:
        log.exception("stream %s failed unexpectedly", request_id)
        yield encode_event(
            APIError(
                f"The server had an error while streaming your request. Request id: {request_id}."
            ).to_dict()
        )
    finally:
        # Runs on normal end, on error, and on GeneratorExit when the client disconnects.
        stream.close()


def sse_response(stream: Stream, headers: dict[str, str]) -> Response:
    """A `text/event-stream` response relaying `stream`."""
    response = Response(
        _events(stream, g.get("request_id", "-")),
        mimetype="text/event-stream",
        headers={**SSE_HEADERS, **stream.headers, **headers},
    )
    return response
