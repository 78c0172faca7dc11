"""Malformed JSON Schemas: a `response_format` schema that is not JSON Schema at all.

Kept apart from schema_checks.Unfit (valid JSON Schema that Anthropic's structured outputs
cannot take, which falls back to a forced tool): a malformed schema would be refused upstream on
every path, as a tool's `input_schema` too, so the gateway answers a 400 before sending it. Only
what no draft of JSON Schema allows is checked; keywords the gateway does not know pass as they
are.
"""

from __future__ import annotations

from typing import Any

from app.backends.anthropic.schema_checks import shown

JSON_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
# Keywords whose value is one schema.
ONE_SCHEMA = {
    "additionalProperties", "additionalItems", "unevaluatedProperties", "unevaluatedItems",
    "not", "if", "then", "else", "contains", "propertyNames",
}  # fmt: skip
# Keywords whose value maps names to schemas.
NAMED_SCHEMAS = {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
# Keywords whose value is a non-empty list of schemas.
LISTED_SCHEMAS = {"anyOf", "allOf", "oneOf", "prefixItems"}
STRINGS = {
    "format", "pattern", "$ref", "description", "title", "$schema", "$id", "$anchor", "$comment",
}  # fmt: skip
COUNTS = {
    "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties",
    "minContains", "maxContains",
}  # fmt: skip


class Malformed(Exception):
    """The schema is not valid JSON Schema; the message says what is wrong and where."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    # JSON Schema's integers include 2.0: any number without a fractional part.
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return _is_number(value) and whole and value >= 0


def _is_types(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(isinstance(kind, str) and kind in JSON_TYPES for kind in value)
    return isinstance(value, str) and value in JSON_TYPES


# Keyword → (test of its value, what the value must be).
VALUES = {
    "type": (_is_types, "a JSON type name or a non-empty list of them"),
    "required": (
        lambda v: isinstance(v, list) and all(isinstance(name, str) for name in v),
        "a list of property names (strings)",
    ),
    "enum": (lambda v: isinstance(v, list), "a list"),
    "uniqueItems": (lambda v: isinstance(v, bool), "a boolean"),
    "minimum": (_is_number, "a number"),
    "maximum": (_is_number, "a number"),
    # Draft 4 wrote these as booleans beside `minimum` and `maximum`.
    "exclusiveMinimum": (lambda v: _is_number(v) or isinstance(v, bool), "a number"),
    "exclusiveMaximum": (lambda v: _is_number(v) or isinstance(v, bool), "a number"),
    "multipleOf": (lambda v: _is_number(v) and v > 0, "a number above 0"),
    **{key: (lambda v: isinstance(v, str), "a string") for key in STRINGS},
    **{key: (_is_count, "a non-negative integer") for key in COUNTS},
}


def check_schema(schema: Any) -> None:
    """Raise Malformed for a schema that is not a JSON object or not valid JSON Schema."""
    if not isinstance(schema, dict):
        raise Malformed(f"the schema must be a JSON object, not {_kind(schema)}")
    # A stack, not recursion: the depth of a schema is the client's to choose.
    stack: list[tuple[Any, str]] = [(schema, "#")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, bool):
            continue
        if not isinstance(node, dict):
            what = "a schema (an object or a boolean)"
            raise Malformed(f"'{path}' must be {what}, not {_kind(node)}")
        for key, value in node.items():
            stack.extend(reversed(_subschemas(key, value, f"{path}/{_escaped(key)}")))


def _subschemas(key: str, value: Any, path: str) -> list[tuple[Any, str]]:
    """The schemas in keyword `key`'s `value`, with their paths; Malformed if it has a wrong
    kind."""
    check = VALUES.get(key)
    if check is not None and not check[0](value):
        raise Malformed(f"'{path}' must be {check[1]}, not {_kind(value)}")
    if key in ONE_SCHEMA:
        return [(value, path)]
    if key in NAMED_SCHEMAS:
        if not isinstance(value, dict):
            raise Malformed(f"'{path}' must be an object of schemas, not {_kind(value)}")
        return [(sub, f"{path}/{_escaped(name)}") for name, sub in value.items()]
    # `items` was a list of schemas before draft 2020-12.
    if key in LISTED_SCHEMAS or (key == "items" and isinstance(value, list)):
        if not isinstance(value, list) or not value:
            raise Malformed(f"'{path}' must be a non-empty list of schemas, not {_kind(value)}")
        return [(sub, f"{path}/{index}") for index, sub in enumerate(value)]
    if key == "items":
        return [(value, path)]
    return []


def _escaped(name: str) -> str:
    """`name` as a JSON Pointer token."""
    return name.replace("~", "~0").replace("/", "~1")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    if isinstance(value, dict):
        return "an object"
    if _is_number(value):
        return "a number"
    return f"the string {shown(value)}" if isinstance(value, str) else "null"
