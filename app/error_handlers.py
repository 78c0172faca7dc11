"""One path from any exception to the OpenAI error envelope."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, jsonify
from werkzeug.exceptions import HTTPException

from app import redaction
from app.errors import APIError, drop_tracebacks

log = logging.getLogger(__name__)

# Werkzeug statuses mapped to OpenAI error types and codes.
_HTTP_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", None),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("requests", "rate_limit_exceeded"),
}
# The client-chosen path echoed in a 404 or 405 is scrubbed of known secrets and cut to this length.
_MAX_PATH = 200


def error_response(error: APIError) -> Response:
    """Serialise an APIError as the JSON envelope with its status and headers."""
    response = jsonify(error.to_dict())
    response.status_code = error.status
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _from_http_exception(exc: HTTPException) -> APIError:
    from flask import request

    status = exc.code or 500
    err_type, code = _HTTP_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    if status == 404:
        message = f"Invalid URL ({request.method} {redaction.shown(request.path, _MAX_PATH)})"
    elif status == 405:
        message = (
            f"Method {request.method} is not allowed for "
            f"{redaction.shown(request.path, _MAX_PATH)}."
        )
    elif status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        accepted = f"the {limit} bytes" if limit else "what"
        message = f"The request body is larger than {accepted} this gateway accepts."
    else:
        message = exc.description or exc.name
    headers = {}
    allowed = getattr(exc, "valid_methods", None)
    if status == 405 and allowed:
        headers["Allow"] = ", ".join(sorted(allowed))
    return APIError(message, status=status, type=err_type, code=code, headers=headers)


def handle_api_error(exc: APIError) -> Response:
    """Render one of the gateway's own errors."""
    if exc.status >= 500:
        log.warning("request %s failed: %s %s", g.get("request_id", "-"), exc.status, exc.message)
    return error_response(exc)


def handle_http_exception(exc: HTTPException) -> Response:
    """Render Flask/werkzeug errors (404, 405, 413, bad JSON...) in the same envelope."""
    # A routing error also stays on the request, which its frames hold.
    drop_tracebacks(exc)
    return error_response(_from_http_exception(exc))


def handle_unexpected(exc: Exception) -> Response:
    """Log an unexpected exception with the request id and answer a bare 500."""
    request_id = g.get("request_id", "-")
    log.exception("unhandled error in request %s", request_id)
    return error_response(
        APIError(
            f"The server had an error while processing your request. Request id: {request_id}.",
            status=500,
            type="server_error",
        )
    )


def init_app(app: Flask) -> None:
    """Bind the handlers to the app."""
    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)
