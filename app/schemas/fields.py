"""Field types for JSON payloads: strict scalars, enums, objects, arrays and unions."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import marshmallow as ma

from app.schemas import problems

# A bound may be a number or a callable read at load time (e.g. a limit from the app config).
Bound = int | float | Callable[[], int | float] | None


def _bound(value: Bound) -> int | float | None:
    return value() if callable(value) else value


class JSONField(ma.fields.Field):
    """A field for one JSON type; its errors are `problems.Problem`s with OpenAI's wording."""

    expected = "a value"

    def __init__(self, **kwargs: Any) -> None:
        overrides = kwargs.pop("error_messages", None) or {}
        super().__init__(**kwargs)
        self.error_messages = {
            **self.error_messages,
            "required": problems.missing(),
            "null": problems.wrong_type(self.expected, None),
            **overrides,
        }

    def _validate(self, value: Any) -> None:
        # marshmallow builds an `And` of the validators on every call, even of none.
        if self.validators:
            super()._validate(value)

    def make_error(self, key: str, **kwargs: Any) -> ma.ValidationError:
        """The error for `key`; messages are only formatted when arguments are given."""
        message = self.error_messages[key]
        return ma.ValidationError(message.format(**kwargs) if kwargs else message)

    def type_error(self, value: Any) -> ma.ValidationError:
        """The error for a value of the wrong JSON type."""
        return ma.ValidationError(problems.wrong_type(self.expected, value))


class StrictNumber(JSONField):
    """A JSON number (int or float), never a string or a boolean; optional bounds."""

    expected = "a decimal"

    def __init__(self, *, minimum: Bound = None, maximum: Bound = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum, self.maximum = minimum, maximum

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) not in (int, float) or (type(value) is float and not math.isfinite(value)):
            raise self.type_error(value)
        self._check_range(value, "decimal")
        return value

    def _check_range(self, value: int | float, kind: str) -> None:
        low, high = _bound(self.minimum), _bound(self.maximum)
        if low is not None and value < low:
            raise ma.ValidationError(problems.out_of_range(kind, value, low, above=False))
        if high is not None and value > high:
            raise ma.ValidationError(problems.out_of_range(kind, value, high, above=True))


class StrictInteger(StrictNumber):
    """A JSON integer (`1.0` and `true` are refused); optional bounds."""

    expected = "an integer"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is not int:
            raise self.type_error(value)
        self._check_range(value, "integer")
        return value


class StrictBoolean(JSONField):
    """A JSON boolean only."""

    expected = "a boolean"

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is not bool:
            raise self.type_error(value)
        return value


class StrictString(JSONField):
    """A JSON string, optionally with a maximum length and a pattern it must match in full."""

    expected = "a string"

    def __init__(
        self, *, max_length: int | None = None, pattern: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        self.pattern = re.compile(pattern) if pattern else None

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is not str:
            raise self.type_error(value)
        if self.max_length is not None and len(value) > self.max_length:
            raise ma.ValidationError(problems.too_long_string(len(value), self.max_length))
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise ma.ValidationError(
                problems.Problem(
                    f"Invalid {problems.PARAM}: string does not match pattern. Expected a string "
                    f"that matches the pattern '{self.pattern.pattern}', but got "
                    f"{problems.shown(value)} instead.",
                    "invalid_value",
                )
            )
        return value


class Choice(JSONField):
    """A string from a fixed set (an enum)."""

    expected = "a string"

    def __init__(self, values: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.values = values

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is not str:
            raise self.type_error(value)
        if value not in self.values:
            raise ma.ValidationError(problems.not_supported(value, self.values))
        return value


class JSONObject(JSONField):
    """Any JSON object, kept as is; optionally a map with string keys and typed values."""

    expected = "an object"

    def __init__(
        self,
        *,
        values: ma.fields.Field | None = None,
        max_properties: int | None = None,
        max_key_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.values = values
        self.max_properties = max_properties
        self.max_key_length = max_key_length

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is not dict:
            raise self.type_error(value)
        if self.max_properties is not None and len(value) > self.max_properties:
            raise ma.ValidationError(
                problems.Problem(
                    f"Invalid {problems.PARAM}: too many properties. Expected an object with at "
                    f"most {self.max_properties} properties, but got an object with "
                    f"{len(value)} properties instead.",
                    "object_above_max_properties",
                )
            )
        if self.max_key_length is not None:
            for key in value:
                if len(key) > self.max_key_length:
                    raise ma.ValidationError(
                        problems.invalid(
                            f"key {problems.shown(key)} is longer than "
                            f"{self.max_key_length} characters."
                        )
                    )
        if self.values is not None:
            errors = {}
            for key, item in value.items():
                try:
                    self.values.deserialize(item)
                except ma.ValidationError as exc:
                    errors[key] = exc.messages
            if errors:
                raise ma.ValidationError(errors)
        return value


class Object(JSONField):
    """A JSON object validated by a nested schema (instantiated once)."""

    expected = "an object"

    def __init__(self, schema: type[ma.Schema], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = schema()

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is not dict:
            raise self.type_error(value)
        return self.schema.load(value)


class Array(JSONField):
    """A JSON array whose items are validated by `item`; optional length bounds."""

    expected = "an array"

    def __init__(
        self, item: ma.fields.Field, *, min_items: int = 0, max_items: Bound = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.item = item
        self.min_items, self.max_items = min_items, max_items

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is not list:
            raise self.type_error(value)
        if len(value) < self.min_items:
            raise ma.ValidationError(problems.too_short_array(len(value), self.min_items))
        limit = _bound(self.max_items)
        if limit is not None and len(value) > limit:
            raise ma.ValidationError(problems.too_long_array(len(value), limit))
        out, errors = [], {}
        for index, item in enumerate(value):
            try:
                out.append(self.item.deserialize(item))
            except ma.ValidationError as exc:
                errors[index] = exc.messages
        if errors:
            raise ma.ValidationError(errors)
        return out


class ByType(JSONField):
    """A union chosen by the JSON type of the value, e.g. a string or an array of parts."""

    def __init__(self, choices: Mapping[type, ma.fields.Field], expected: str, **kwargs: Any):
        self.expected = expected
        super().__init__(**kwargs)
        self.choices = dict(choices)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        field = self.choices.get(type(value))
        if field is None:
            raise self.type_error(value)
        return field.deserialize(value)


class Discriminated(JSONField):
    """A union of object schemas chosen by one key, e.g. messages by `role`, parts by `type`."""

    expected = "an object"

    def __init__(self, key: str, schemas: Mapping[str, type[ma.Schema]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key = key
        self.schemas = {name: cls() for name, cls in schemas.items()}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is not dict:
            raise self.type_error(value)
        tag = value.get(self.key)
        schema = self.schemas.get(tag) if type(tag) is str else None
        if schema is None:
            raise ma.ValidationError({self.key: [self._tag_problem(tag, value)]})
        return schema.load(value)

    def _tag_problem(self, tag: Any, value: dict[str, Any]) -> problems.Problem:
        if tag is None and self.key not in value:
            return problems.missing()
        if type(tag) is not str:
            return problems.wrong_type("a string", tag)
        return problems.not_supported(tag, self.schemas)
