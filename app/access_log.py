"""Request log: one structured line per request on stdout, written when the response ends.

Each line holds the request id, method, path, status, client key *name* (never the key),
model, backend, latency and time to first token in milliseconds, token counts, whether it was a
stream, and whether the client left the stream before its end. `LOG_FORMAT=json` (default)
writes one JSON object per line; `text` writes `key=value` pairs for reading in a terminal.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request

from app import observe, redaction

LOGGER_NAME = "gateway.requests"
FORMATS = ("json", "text")
_REQUEST = "gateway.access_log"
# The client-chosen path is cut to this length (model names: app.observe, scrubbed and cut).
_MAX_TEXT = 200
_PLAIN = re.compile(r"^[A-Za-z0-9._:/\-*]*$")

log = logging.getLogger(LOGGER_NAME)


class StdoutHandler(logging.Handler):
    """Writes each record to the current `sys.stdout` and flushes it (12-factor logs)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one line."""
        try:
            stream = sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def entry(exchange: observe.Exchange) -> dict[str, Any]:
    """The fields logged for one finished request."""
    seen = exchange.extra.get(_REQUEST, {})
    return {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "request_id": exchange.request_id,
        "method": seen.get("method"),
        "path": seen.get("path"),
        "status": exchange.status,
        "stream": exchange.stream,
        "stream_error": exchange.stream_error,
        # null rather than false, so that text lines name it only when it happened.
        "client_left": exchange.client_left or None,
        "key_name": exchange.key_name,
        "model": exchange.model,
        "backend": exchange.backend,
        "upstream_model": exchange.upstream_model,
        "latency_ms": _ms(exchange.latency),
        "ttft_ms": _ms(exchange.ttft),
        "prompt_tokens": exchange.prompt_tokens,
        "completion_tokens": exchange.completion_tokens,
        "client": seen.get("client"),
    }


def format_json(fields: dict[str, Any]) -> str:
    """One compact JSON object (control characters escaped, so always one line)."""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=True)


def format_text(fields: dict[str, Any]) -> str:
    """`key=value` pairs; values with spaces or quotes are JSON-quoted."""
    parts = []
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, str) and not _PLAIN.match(value):
            shown = json.dumps(value, ensure_ascii=True)
        else:
            shown = str(value)
        parts.append(f"{name}={shown}")
    return " ".join(parts)


def _remember_request(response: Response) -> Response:
    exchange = observe.current()
    if exchange is not None:
        exchange.extra[_REQUEST] = {
            "method": request.method,
            # The path only: a query string may carry anything, keys included.
            "path": redaction.shown(request.path, _MAX_TEXT),
            "client": request.remote_addr,
        }
    return response


def _logger() -> logging.Logger:
    """The request logger, with its own stdout handler (added once per process)."""
    if not any(isinstance(h, StdoutHandler) for h in log.handlers):
        handler = StdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    # Lines are complete records already; they must not reach the root logger's format.
    log.propagate = False
    return log


def init_app(app: Flask) -> None:
    """Log every request of `app` as one line on stdout, in `LOG_FORMAT`."""
    kind = str(app.config.get("LOG_FORMAT") or "json").lower()
    if kind not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {kind!r}")
    render = format_json if kind == "json" else format_text
    logger = _logger()
    app.after_request(_remember_request)
    observe.add_observer(app, lambda exchange: logger.info(render(entry(exchange))))
