"""Schema building blocks: strict JSON types, discriminated unions and error paths."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma


class BaseSchema(ma.Schema):
    """Keeps unknown fields, so vendor extras (e.g. `top_k`) reach the upstream untouched."""

    class Meta:
        unknown = ma.INCLUDE


class StrictNumber(ma.fields.Field):
    """A JSON number (int or float), never a string or a boolean."""

    default_error_messages = {"invalid": "Invalid type: expected a number."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.make_error("invalid")
        return value


class StrictInteger(ma.fields.Integer):
    """A JSON integer (`1.0` and `true` are refused)."""

    default_error_messages = {"invalid": "Invalid type: expected an integer."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(ma.fields.Field):
    """A JSON boolean only."""

    default_error_messages = {"invalid": "Invalid type: expected a boolean."}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictString(ma.fields.String):
    """A JSON string."""

    default_error_messages = {"invalid": "Invalid type: expected a string."}


class JSONObject(ma.fields.Dict):
    """Any JSON object (kept as is)."""

    default_error_messages = {"invalid": "Invalid type: expected an object."}


class Discriminated(ma.fields.Field):
    """A union of object schemas chosen by one key, e.g. messages by `role`, parts by `type`."""

    def __init__(self, key: str, schemas: Mapping[str, type[ma.Schema]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key = key
        self.schemas = {name: cls() for name, cls in schemas.items()}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, dict):
            raise ma.ValidationError("Invalid type: expected an object.")
        tag = value.get(self.key)
        if tag is None:
            raise ma.ValidationError({self.key: ["Missing required parameter."]})
        schema = self.schemas.get(tag) if isinstance(tag, str) else None
        if schema is None:
            supported = ", ".join(f"'{name}'" for name in self.schemas)
            raise ma.ValidationError(
                {self.key: [f"Invalid value: {tag!r}. Supported values are: {supported}."]}
            )
        return schema.load(value)


def first_error(messages: Any, path: tuple[Any, ...] = ()) -> tuple[tuple[Any, ...], str]:
    """The path and text of the first error in marshmallow's nested error structure."""
    if isinstance(messages, dict):
        # `_schema` errors belong to the object itself, not to a child field.
        key = next(iter(messages))
        child = path if key == "_schema" else (*path, key)
        return first_error(messages[key], child)
    if isinstance(messages, list) and messages:
        return first_error(messages[0], path)
    return path, str(messages)


def format_path(path: tuple[Any, ...]) -> str | None:
    """`("messages", 1, "role")` → `messages[1].role`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None
