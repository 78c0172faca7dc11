"""Reading a request body's JSON, and the checks no schema can make: depth, numbers, Unicode."""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

from app.errors import InvalidRequestError
from app.schemas.problems import format_path

# A `\u` escape of a UTF-16 surrogate (D800-DFFF). Valid pairs match too; the walk lets them by,
# because the parser has already joined each pair into one character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SHOWN_NUMBER_CHARS = 40


class _NotFinite(Exception):
    """Leaves the fast parse at the first NaN, Infinity or overflowing number."""


class _Marked(float):
    """A number that is not finite, with the text it was written as (for the message)."""

    text: str
    overflow: bool


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotFinite
    return value


def _refuse_constant(text: str) -> float:
    raise _NotFinite


def _marked(text: str, value: float, overflow: bool) -> _Marked:
    marked = _Marked(value)
    marked.text, marked.overflow = text, overflow
    return marked


def _marked_float(text: str) -> float:
    value = float(text)
    return _marked(text, value, True) if math.isinf(value) else value


def _marked_constant(text: str) -> float:
    return _marked(text, float(text), False)


# The hooks only run for numbers with a fraction or exponent, and for NaN and Infinity, so the
# common body pays nothing for them; the marking parser only runs once one has been seen.
_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)
_MARKING_DECODER = json.JSONDecoder(parse_float=_marked_float, parse_constant=_marked_constant)


def too_deep(limit: int, param: str | None = None) -> InvalidRequestError:
    """The 400 for a body nested deeper than `limit`; `param` is where it went too deep."""
    return InvalidRequestError(
        f"The request body nests arrays and objects more than {limit} levels deep.",
        param=param,
        code="nesting_too_deep",
    )


def not_a_number(value: float, path: tuple[Any, ...]) -> InvalidRequestError:
    """The 400 for NaN, Infinity or a number too large for a float: JSON and upstreams refuse."""
    param = format_path(path)
    text = getattr(value, "text", None) or str(value)
    if len(text) > _SHOWN_NUMBER_CHARS:
        text = text[: _SHOWN_NUMBER_CHARS - 3] + "..."
    if getattr(value, "overflow", False):
        reason = (
            "is too large to be represented as a number "
            f"(the largest magnitude is about {sys.float_info.max:.4g})"
        )
    else:
        reason = "is not a JSON number"
    return InvalidRequestError(
        f"Invalid value for '{param}': {text} {reason}.", param=param, code="invalid_value"
    )


def lone_surrogate(text: str, path: tuple[Any, ...], key: bool = False) -> InvalidRequestError:
    """The 400 for a string (or, with `key`, an object key) holding half a surrogate pair."""
    # Escaped, so that neither the message nor `param` carries the unencodable character.
    escaped = text.encode("utf-8", "backslashreplace").decode("utf-8")
    char = _LONE_SURROGATE.search(text)
    shown = f"\\u{ord(char.group()):04x}" if char else "?"
    param = format_path((*path, escaped) if key else path)
    where = "object key" if key else "string"
    return InvalidRequestError(
        f"Invalid value for '{param}': the {where} contains a lone UTF-16 surrogate ({shown}), "
        "which is not valid Unicode. Surrogates may only be sent as high-low pairs.",
        param=param,
        code="invalid_value",
    )


def parse_json(raw: bytes) -> tuple[str, Any, bool]:
    """The body's text, its value, and whether a number in it is not finite; ValueError if not JSON.

    The bytes are decoded strictly (json.loads would let UTF-8-encoded surrogates through), so a
    body that is not well-formed UTF-8 (or UTF-16/32) is not JSON.
    """
    text = raw.decode(json.detect_encoding(raw))
    try:
        return text, _DECODER.decode(text), False
    except _NotFinite:
        return text, _MARKING_DECODER.decode(text), True


def check_body(text: str, body: Any, max_depth: int, numbers: bool = False) -> None:
    """Refuse deep nesting, non-finite numbers and lone surrogates in the body parsed from `text`.

    Nesting deeper than `max_depth` counts the body as level 1; `numbers` says the parse met
    NaN, Infinity or a number too large for a float. Only bodies that could break a rule are
    walked: one with more brackets than the limit, one with a non-finite number, or one with a
    surrogate escape.
    """
    deep = 0 < max_depth < text.count("{") + text.count("[")
    surrogates = "\\u" in text and _SURROGATE_ESCAPE.search(text) is not None
    if not (deep or numbers or surrogates) or not isinstance(body, dict | list):
        return
    # A stack instead of recursion, so that no depth can exhaust the interpreter's.
    stack: list[tuple[Any, tuple[Any, ...]]] = [(body, ())]
    while stack:
        node, path = stack.pop()
        if deep and len(path) >= max_depth:
            raise too_deep(max_depth, format_path(path))
        if isinstance(node, dict):
            if surrogates:
                for key in node:
                    if _LONE_SURROGATE.search(key):
                        raise lone_surrogate(key, path, key=True)
            items: Any = node.items()
        else:
            items = enumerate(node)
        for key, child in items:
            if isinstance(child, dict | list):
                stack.append((child, (*path, key)))
            elif numbers and isinstance(child, float) and not math.isfinite(child):
                raise not_a_number(child, (*path, key))
            elif surrogates and isinstance(child, str) and _LONE_SURROGATE.search(child):
                raise lone_surrogate(child, (*path, key))
