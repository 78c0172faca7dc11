"""The request body, read once before any view: a body the server cannot read is a 400."""

from __future__ import annotations

import logging

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from app.errors import InvalidRequestError

log = logging.getLogger(__name__)

_UNREADABLE = (
    "The request body could not be read: its framing (Content-Length or chunked encoding) "
    "does not match what was sent."
)


def _read_body() -> None:
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    try:
        # Cached by Flask: views and hooks that read the body later get these bytes.
        request.get_data()
    except HTTPException:
        raise  # 413 and werkzeug's own 400s already have their answer
    except Exception as exc:
        # The WSGI server's input stream raises its own errors for a broken chunked body or
        # a body cut short (gunicorn: InvalidChunkSize, NoMoreData...); all are the client's.
        log.info("request %s: unreadable body (%s)", g.get("request_id", "-"), type(exc).__name__)
        raise InvalidRequestError(_UNREADABLE, code="invalid_body") from exc


def init_app(app: Flask) -> None:
    """Read every request body before the views and the key and rate-limit checks."""
    app.before_request(_read_body)
