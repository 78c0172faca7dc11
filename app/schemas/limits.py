"""Checks on a parsed request body before schema validation: nesting depth and JSON numbers."""

from __future__ import annotations

import math
from typing import Any

from app.errors import InvalidRequestError
from app.schemas.problems import format_path


def too_deep(limit: int, param: str | None = None) -> InvalidRequestError:
    """The 400 for a body nested deeper than `limit`; `param` is where it went too deep."""
    return InvalidRequestError(
        f"The request body nests arrays and objects more than {limit} levels deep.",
        param=param,
        code="nesting_too_deep",
    )


def not_a_number(value: float, path: tuple[Any, ...]) -> InvalidRequestError:
    """The 400 for NaN or Infinity, which Python reads but JSON (and every upstream) refuses."""
    param = format_path(path)
    return InvalidRequestError(
        f"Invalid value for '{param}': {value} is not a JSON number.",
        param=param,
        code="invalid_value",
    )


def check_body(raw: bytes, body: Any, max_depth: int) -> None:
    """Refuse nesting deeper than `max_depth` (the body is level 1) and NaN or Infinity.

    Only bodies that could break a rule are walked: one with more brackets than the limit,
    or that spells out NaN or Infinity somewhere.
    """
    deep = 0 < max_depth < raw.count(b"{") + raw.count(b"[")
    odd = b"NaN" in raw or b"Infinity" in raw
    if not (deep or odd):
        return
    # A stack instead of recursion, so that no depth can exhaust the interpreter's.
    stack: list[tuple[Any, tuple[Any, ...]]] = [(body, ())]
    while stack:
        node, path = stack.pop()
        if deep and len(path) >= max_depth:
            raise too_deep(max_depth, format_path(path))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(child, dict | list):
                stack.append((child, (*path, key)))
            elif odd and isinstance(child, float) and not math.isfinite(child):
                raise not_a_number(child, (*path, key))
