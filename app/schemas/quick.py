"""The quick load of a valid payload: marshmallow's work for it, without the bookkeeping.

marshmallow visits every declared field of a schema on every load (a chat request has about
45) through per-field closures and an error store. For a payload that turns out valid the
result only depends on each present field's `deserialize`, the defaults of absent fields,
and the schema validators, which is all this runs. At the first problem it gives up and the
full marshmallow load runs instead, so errors keep their exact wording and `param` paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA

# What marshmallow passes as `partial` to each field when the schema's `partial` is a
# collection none of whose entries is nested (see app.schemas.base._Skippable).
_NO_PARTIAL: list[str] = []


class QuickLoad:
    """Loads valid payloads for one schema instance; `None` means "ask marshmallow"."""

    def __init__(self, schema: ma.Schema, partial: Any) -> None:
        self.schema = schema
        self.partial = partial
        self.fields = schema.load_fields
        self.order = {name: index for index, name in enumerate(self.fields)}
        # Absent fields that marshmallow still visits: required ones (an error) and defaults.
        self.always = [name for name in self.fields if name not in partial]
        hooks = schema._hooks[VALIDATES_SCHEMA]
        # marshmallow runs the validators of collections first, then the others.
        self.validators: list[tuple[Callable[..., Any], bool]] = [
            (getattr(schema, name), bool(options.get("pass_original")))
            for name, many, options in sorted(hooks, key=lambda hook: not hook[1])
        ]

    @classmethod
    def supports(cls, schema: ma.Schema) -> bool:
        """True when no option or hook of `schema` makes its loads differ from the quick one."""
        plain_fields = all(
            field.data_key is None and field.attribute is None and "." not in name
            for name, field in schema.load_fields.items()
        )
        hooks = schema._hooks
        return (
            plain_fields
            and not schema.many
            and schema.unknown == ma.INCLUDE
            and not (hooks[PRE_LOAD] or hooks[POST_LOAD] or hooks[VALIDATES])
        )

    def load(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """`data` loaded as `schema.load(data, partial=...)` would, or None at any problem."""
        order, fields = self.order, self.fields
        names = [name for name in data if name in order]
        names += [name for name in self.always if name not in data]
        names.sort(key=order.__getitem__)
        out: dict[str, Any] = {}
        try:
            for name in names:
                value = fields[name].deserialize(
                    data.get(name, ma.missing), name, data, partial=_NO_PARTIAL
                )
                if value is not ma.missing:
                    out[name] = value
            for name, value in data.items():
                if name not in order:
                    out[name] = value
            unknown = self.schema.unknown
            for validator, pass_original in self.validators:
                if pass_original:
                    validator(out, data, partial=self.partial, many=False, unknown=unknown)
                else:
                    validator(out, partial=self.partial, many=False, unknown=unknown)
        except ma.ValidationError:
            return None
        return out
