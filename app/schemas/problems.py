"""Validation problems in OpenAI's wording, and how they become a 400 naming the `param` path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.errors import InvalidRequestError

# Stands for the quoted parameter path in a message; filled in once the path is known.
PARAM = "{param}"
_SHOWN_VALUE_CHARS = 80


class Problem(str):
    """An error message that also carries OpenAI's machine-readable `code`."""

    code: str | None

    def __new__(cls, text: str, code: str | None = None) -> Problem:
        obj = super().__new__(cls, text)
        obj.code = code
        return obj


def describe(value: Any) -> str:
    """The JSON type of `value` in words: `a string`, `an array`, `null`..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def shown(value: Any) -> str:
    """A short, quoted rendering of an offending value for a message."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _SHOWN_VALUE_CHARS:
        text = text[: _SHOWN_VALUE_CHARS - 3] + "..."
    return f"'{text}'"


def listing(values: Iterable[Any]) -> str:
    """`'a', 'b', and 'c'` as in OpenAI's messages."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def missing() -> Problem:
    """A required parameter is absent."""
    return Problem(f"Missing required parameter: {PARAM}.", "missing_required_parameter")


def wrong_type(expected: str, value: Any) -> Problem:
    """The value has the wrong JSON type."""
    return Problem(
        f"Invalid type for {PARAM}: expected {expected}, but got {describe(value)} instead.",
        "invalid_type",
    )


def not_supported(value: Any, supported: Iterable[Any]) -> Problem:
    """The value is not one of an enumeration."""
    return Problem(
        f"Invalid value for {PARAM}: {shown(value)}. Supported values are: {listing(supported)}.",
        "invalid_value",
    )


def invalid(text: str) -> Problem:
    """Any other invalid value; `text` says what is wrong."""
    return Problem(f"Invalid value for {PARAM}: {text}", "invalid_value")


def out_of_range(kind: str, value: Any, bound: Any, above: bool) -> Problem:
    """A number outside its bounds; `kind` is `decimal` or `integer`."""
    side, sign, edge = ("above", "<=", "max") if above else ("below", ">=", "min")
    return Problem(
        f"Invalid {PARAM}: {kind} {side} {'maximum' if above else 'minimum'} value. "
        f"Expected a value {sign} {bound}, but got {value} instead.",
        f"{kind}_{side}_{edge}_value",
    )


def too_short_array(size: int, minimum: int) -> Problem:
    """An array with fewer items than allowed."""
    if size == 0:
        return Problem(
            f"Invalid {PARAM}: empty array. Expected an array with minimum length {minimum}, "
            "but got an empty array instead.",
            "empty_array",
        )
    return Problem(
        f"Invalid {PARAM}: array too short. Expected an array with minimum length {minimum}, "
        f"but got an array with length {size} instead.",
        "array_below_min_length",
    )


def too_long_array(size: int, maximum: int) -> Problem:
    """An array with more items than allowed."""
    return Problem(
        f"Invalid {PARAM}: array too long. Expected an array with maximum length {maximum}, "
        f"but got an array with length {size} instead.",
        "array_above_max_length",
    )


def too_long_string(size: int, maximum: int) -> Problem:
    """A string longer than allowed."""
    return Problem(
        f"Invalid {PARAM}: string too long. Expected a string with maximum length {maximum}, "
        f"but got a string with length {size} instead.",
        "string_above_max_length",
    )


def first_error(messages: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], str]:
    """The path and text of the first error in marshmallow's nested error structure."""
    if isinstance(messages, dict):
        # `_schema` errors belong to the object itself, not to a child field.
        key = next(iter(messages))
        child = path if key == "_schema" else (*path, key)
        return first_error(messages[key], child)
    if isinstance(messages, list) and messages:
        return first_error(messages[0], path)
    return path, messages if isinstance(messages, str) else str(messages)


def format_path(path: tuple[Any, ...]) -> str | None:
    """`("messages", 1, "role")` → `messages[1].role`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None


def request_error(messages: Any) -> InvalidRequestError:
    """The 400 for marshmallow's error structure: the first problem, its path as `param`."""
    path, text = first_error(messages)
    param = format_path(path)
    quoted = f"'{param}'" if param else "the request body"
    if PARAM in text:
        # Only the first occurrence: the offending value shown later may contain the marker.
        message = text.replace(PARAM, quoted, 1)
    elif param:
        message = f"Invalid {quoted}: {text}"
    else:
        message = str(text)
    return InvalidRequestError(message, param=param, code=getattr(text, "code", None))
