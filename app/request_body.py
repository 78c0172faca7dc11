"""The request body, read once before any view: a body the server cannot read is a 4xx."""

from __future__ import annotations

import io
import logging

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from app import redaction
from app.errors import InvalidRequestError, UnsupportedMediaType

log = logging.getLogger(__name__)

_UNREADABLE = (
    "The request body could not be read: its framing (Content-Length or chunked encoding) "
    "does not match what was sent."
)
# The client's Content-Encoding is echoed in the 415, cut to this length.
_MAX_SHOWN_ENCODING = 40


def _refuse_encoded_body(value: str) -> None:
    # Decoding a compressed body would let a small request grow past the body limit, and
    # passing it on unread would hand the JSON parser bytes it cannot read.
    codings = [coding.strip().lower() for coding in value.split(",") if coding.strip()]
    if any(coding != "identity" for coding in codings):
        shown = redaction.shown(value.strip(), _MAX_SHOWN_ENCODING)
        raise UnsupportedMediaType(
            f"Unsupported Content-Encoding '{shown}': request bodies must be sent uncompressed "
            "(no Content-Encoding, or identity).",
            headers={"Accept-Encoding": "identity"},
        )


def _read_unsized_body(limit: int | None) -> None:
    # werkzeug cuts a body without Content-Length (chunked) at the limit without an error, so
    # one byte more than the limit is read here: arriving, it makes the body too large.
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while limit is None or size <= limit:
        chunk = stream.read(65536 if limit is None else limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if limit is not None and size > limit:
        raise RequestEntityTooLarge()
    # The bytes read stand in for the server's stream, for werkzeug to read (and cache) them.
    request.environ["wsgi.input"] = io.BytesIO(b"".join(chunks))


def _read_body() -> None:
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    environ = request.environ
    encoding = environ.get("HTTP_CONTENT_ENCODING")
    if encoding:
        _refuse_encoded_body(encoding)
    try:
        # Only a server that ends the stream itself (wsgi.input_terminated) can be read without
        # a Content-Length; werkzeug gives the others' bodies as empty.
        if not environ.get("CONTENT_LENGTH") and "wsgi.input_terminated" in environ:
            _read_unsized_body(request.max_content_length)
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
