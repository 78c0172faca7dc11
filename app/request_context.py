"""Per-request id: accepted from `X-Request-ID` when well-formed, otherwise generated."""

from __future__ import annotations

import os
import re

from flask import Flask, Response, g, request

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _assign_request_id() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _SAFE_ID.match(incoming) else f"req_{os.urandom(16).hex()}"


def _echo_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "")
    return response


def init_app(app: Flask) -> None:
    """Give every request an id and return it in the response headers."""
    app.before_request(_assign_request_id)
    app.after_request(_echo_request_id)
