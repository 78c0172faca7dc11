"""The upstream's own model list (`GET /models`) as model objects."""

from __future__ import annotations

from typing import Any

from app.errors import UpstreamError


def model_objects(body: Any) -> list[dict[str, Any]]:
    """The model objects of a `GET /models` answer: OpenAI's `{"data": [...]}`, or a bare array
    of them (as Together answers); anything else is an UpstreamError."""
    if isinstance(body, dict):
        data = body.get("data")
    elif isinstance(body, list) and all(isinstance(item, dict) for item in body):
        data = body
    else:
        data = None  # a bare array of names, a string: no model list
    if not isinstance(data, list):
        raise UpstreamError("The upstream model list has no `data` array.")
    return [item for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]
