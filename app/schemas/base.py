"""Schema building blocks: the base schema, strict JSON field types and error paths."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import marshmallow as ma

from app.schemas.fields import (
    Array,
    ByType,
    Choice,
    Discriminated,
    JSONField,
    JSONObject,
    Object,
    StrictBoolean,
    StrictInteger,
    StrictNumber,
    StrictString,
)
from app.schemas.problems import first_error, format_path
from app.schemas.quick import QuickLoad

__all__ = [
    "Array",
    "BaseSchema",
    "ByType",
    "Choice",
    "Discriminated",
    "JSONField",
    "JSONObject",
    "Object",
    "StrictBoolean",
    "StrictInteger",
    "StrictNumber",
    "StrictString",
    "first_error",
    "format_path",
]


class _Skippable(frozenset):
    """Names of fields to skip when absent.

    marshmallow tests membership to skip a field and iterates the collection to derive a
    nested `partial` for each present field; nested schemas here are loaded on their own, so
    iterating yields nothing and costs nothing.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(())


class BaseSchema(ma.Schema):
    """Keeps unknown fields, so vendor extras (e.g. `top_k`) reach the upstream untouched."""

    class Meta:
        unknown = ma.INCLUDE

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Optional fields without a default that a payload leaves out are skipped outright
        # (marshmallow's `partial`), instead of visiting each of them on every load.
        self._skippable = _Skippable(
            name
            for name, field in self.load_fields.items()
            if not field.required and field.load_default is ma.missing
        )
        self._quick = QuickLoad(self, self._skippable) if QuickLoad.supports(self) else None

    def load(
        self, data: Any, *, many: bool | None = None, partial: Any = None, **kwargs: Any
    ) -> Any:
        """Validate and return `data`; see `marshmallow.Schema.load`."""
        if partial is None:
            if self._quick is not None and many is None and not kwargs and type(data) is dict:
                loaded = self._quick.load(data)
                if loaded is not None:
                    return loaded
            partial = self._skippable
        return super().load(data, many=many, partial=partial, **kwargs)
