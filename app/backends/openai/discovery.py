"""The upstream's own model list (`GET /models`) as model objects."""

from __future__ import annotations

from typing import Any

from app.errors import UpstreamError


def model_objects(body: Any) -> list[dict[str, Any]]:
    """The model objects of a `GET /models` answer; anything else is an UpstreamError."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise UpstreamError("The upstream model list has no `data` array.")
    return [item for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]
