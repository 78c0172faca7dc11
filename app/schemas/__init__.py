"""Request schemas (marshmallow) and the helper that reads a JSON body through one."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, request

from app.errors import InvalidRequestError, drop_tracebacks
from app.schemas.limits import check_body, parse_json
from app.schemas.problems import request_error

# OpenAI's wording (and code null) for a body it cannot parse, without its pointer to OpenAI's
# help center.
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
    "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
    "valid JSON.)"
)
# OpenAI's answer to a chat or legacy completion request without `model`: param and code null.
NO_MODEL = "you must provide a model parameter"


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object, or an OpenAI-style 400."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        shown = request.content_type or "none"
        raise InvalidRequestError(
            f"Invalid Content-Type header ({shown}); expected application/json.",
            code="invalid_content_type",
        )
    raw = request.get_data(cache=False)
    limit = int(current_app.config.get("GATEWAY_MAX_JSON_DEPTH", 64))
    try:
        text, body, numbers = parse_json(raw, limit)
    except (ValueError, RecursionError) as exc:
        # ValueError covers bytes that are not well-formed Unicode, e.g. UTF-8-encoded surrogates.
        raise InvalidRequestError(_BAD_JSON) from exc
    check_body(text, body, limit, numbers=numbers)
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.", code="invalid_json")
    return body


def load_request(schema: ma.Schema, *, model_first: bool = False) -> dict[str, Any]:
    """Validate the request body with `schema`; a violation is a 400 naming its `param`.

    With `model_first`, a body without `model` is refused before anything else in it is checked,
    in OpenAI's words (`NO_MODEL`).
    """
    body = read_json_object()
    if model_first and "model" not in body:
        raise InvalidRequestError(NO_MODEL)
    try:
        return schema.load(body)
    except ma.ValidationError as exc:
        raise request_error(exc.messages) from drop_tracebacks(exc)
