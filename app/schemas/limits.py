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
# A JSON string (whole, or only its opening quote when unterminated) or a structural character.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|["\[\]{}:,]')


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


def _marked_int(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        # More digits than Python converts (sys.get_int_max_str_digits, 4300 by default): far
        # too large for a float too, so refused as one that overflows.
        return _marked(text, -math.inf if text.startswith("-") else math.inf, True)


# The hooks only run for numbers with a fraction or exponent, and for NaN and Infinity, so the
# common body pays nothing for them; the marking parser (which also sees every integer) only
# runs once one has been seen, or an integer too long to convert.
_DECODER = json.JSONDecoder(parse_float=_finite_float, parse_constant=_refuse_constant)
_MARKING_DECODER = json.JSONDecoder(
    parse_float=_marked_float, parse_constant=_marked_constant, parse_int=_marked_int
)


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


def parse_json(raw: bytes, max_depth: int = 0) -> tuple[str, Any, bool]:
    """The body's text, its value, and whether a number in it is not finite; ValueError if not JSON.

    The bytes are decoded strictly (json.loads would let UTF-8-encoded surrogates through), so a
    body that is not well-formed UTF-8 (or UTF-16/32) is not JSON. A body too deep for the
    parser's recursion is the `too_deep` 400 when it nests deeper than `max_depth`, otherwise
    RecursionError.
    """
    text = raw.decode(json.detect_encoding(raw))
    try:
        try:
            return text, _DECODER.decode(text), False
        except _NotFinite:
            return text, _MARKING_DECODER.decode(text), True
        except json.JSONDecodeError:
            raise
        except ValueError:
            # Python's own limit on the digits of an integer it converts.
            return text, _MARKING_DECODER.decode(text), True
    except RecursionError:
        problem = nesting_error(text, max_depth)
        if problem is None:
            raise
        raise problem from None


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


def nesting_error(text: str, max_depth: int) -> InvalidRequestError | None:
    """The 400 for `text` nesting deeper than `max_depth`, found by a scan without recursion.

    For bodies too deep for the parser (it gives up with a RecursionError). None when the
    nesting stays within the limit, or when the brackets do not pair up: then it is not JSON.
    """
    if max_depth <= 0:
        return None
    # Per open container: the index, or the (still encoded) key, of the child being read.
    path: list[Any] = []
    closers: list[str] = []
    last_string = ""
    found: list[Any] | None = None
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            if found is None and len(closers) >= max_depth:
                found = list(path)
            closers.append("]" if token == "[" else "}")
            path.append(0 if token == "[" else None)
        elif token == "]" or token == "}":
            if not closers or closers.pop() != token:
                return None
            path.pop()
        elif token == ",":
            if path and isinstance(path[-1], int):
                path[-1] += 1
        elif token == ":":
            if not path or isinstance(path[-1], int):
                return None
            path[-1] = last_string
        elif token == '"':
            return None
        else:
            last_string = token
    if found is None or closers or None in found:
        return None
    try:
        keys = tuple(json.loads(part) if isinstance(part, str) else part for part in found)
    except ValueError:
        return None
    return too_deep(max_depth, format_path(keys))
