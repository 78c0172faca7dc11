"""A client's JSON Schema → the subset Anthropic's structured outputs take, or why it cannot be.

Anthropic compiles the schema of `output_config.format` into a grammar and answers 400 for what
it cannot compile: objects whose `additionalProperties` is not false, recursive schemas, `$ref`s
that leave the document, `allOf` with a `$ref`, enums of objects or arrays, numeric and string
length constraints, array constraints other than `minItems` 0 or 1, string formats outside its
list, regex features it lacks, and more than 24 optional or 16 union-typed properties in all.
"""

from __future__ import annotations

import json
import re
from typing import Any

from app.backends.anthropic.schema_checks import (
    LOCAL_REF,
    Unfit,
    check_limits,
    refuse_recursion,
    shown,
)

# Keywords Anthropic documents as supported; they are sent as they are (after the checks below).
KEPT = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "anyOf", "allOf", "$ref", "$defs", "definitions", "default", "description", "title",
    "format", "pattern", "minItems",
}  # fmt: skip
# Keywords that shape the answer in ways the subset cannot express: such a schema is not sent.
STRUCTURAL = {
    "not", "if", "then", "else", "patternProperties", "propertyNames", "prefixItems",
    "additionalItems", "contains", "dependentRequired", "dependentSchemas",
    "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$recursiveRef",
}  # fmt: skip
# Keywords that say what kind of value a schema takes; a schema needs one of them.
TYPED = {"type", "enum", "const", "anyOf", "allOf", "properties"}
# Document metadata, which says nothing about the answer.
DROPPED = {"$schema", "$id", "$comment", "$anchor", "$dynamicAnchor", "$vocabulary"}
# What a `$ref` may have beside it: annotations, which the reference makes moot.
REF_SIBLINGS = {"description", "title", "default", "examples", "$defs", "definitions"} | DROPPED
FORMATS = {
    "date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid",
}  # fmt: skip
# Backreferences, lookaround and word boundaries: regex features the grammar lacks.
REFUSED_REGEX = re.compile(r"\\[1-9]|\(\?<?[=!]|\\[bB]")
JSON_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
# Annotations; one that is not a string says nothing and is left out.
ANNOTATIONS = {"description", "title"}


def _is_type(value: Any) -> bool:
    return isinstance(value, str) and value in JSON_TYPES


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# What the value of a keyword the gateway reads must be, and how the reason names it: a schema
# with another value is malformed, and not sent (Anthropic would refuse it, or the gateway
# misread it). Constraints that only move into the description are not checked.
VALUES = {
    "type": (
        lambda v: _is_type(v) or (isinstance(v, list) and bool(v) and all(map(_is_type, v))),
        "a JSON type or a list of them",
    ),
    "required": (
        lambda v: isinstance(v, list) and all(isinstance(name, str) for name in v),
        "a list of property names",
    ),
    "additionalProperties": (lambda v: isinstance(v, bool | dict), "a boolean or a schema"),
    "format": (lambda v: isinstance(v, str), "a string"),
    "pattern": (lambda v: isinstance(v, str), "a string"),
    "minItems": (_is_count, "a non-negative integer"),
}


def convert(schema: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(the schema to send as `output_config.format.schema`, None), or (None, the reason it
    cannot be sent).

    Every answer valid under the result is valid under `schema`, except for the constraint
    keywords Anthropic cannot enforce (`minimum`, `maxLength`, unsupported formats and
    patterns, …): those move into the description, so the model is still asked to keep them.
    Objects that declare properties get `additionalProperties: false`; `oneOf` becomes `anyOf`;
    an `allOf` of one schema is merged into its parent.
    """
    try:
        if not isinstance(schema, dict):
            raise Unfit("the schema is not an object")
        refuse_recursion(schema)
        converted = _node(schema)
        check_limits(converted)
    except Unfit as exc:
        return None, str(exc)
    except RecursionError:
        # A safety net: request bodies are bounded in depth, and $ref chains are walked
        # without recursion.
        return None, "the schema nests too deeply"
    return converted, None


def _node(schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise Unfit("a subschema is not an object")
    schema = _merged_all_of(schema)
    if "$ref" in schema:
        return _ref_node(schema)
    out: dict[str, Any] = {}
    described: dict[str, Any] = {}
    for key, value in schema.items():
        if key in STRUCTURAL:
            raise Unfit(f"`{key}` is not supported")
        _check_value(key, value)
        if key in DROPPED or key == "additionalProperties":
            continue
        if key in ANNOTATIONS and not isinstance(value, str):
            continue
        if key in ("anyOf", "oneOf"):
            if "anyOf" in out or not isinstance(value, list) or not value:
                raise Unfit(f"`{key}` must be one non-empty list of schemas")
            # Branches of generated unions are told apart by a `const` tag: any-of matches
            # the same answers there.
            out["anyOf"] = [_node(branch) for branch in value]
        elif key == "allOf":
            out[key] = _all_of(value)
        elif key in ("properties", "$defs", "definitions"):
            out[key] = _schemas(value, key)
        elif key == "items":
            out[key] = _node(value)
        elif key == "enum":
            out[key] = _enum(value)
        elif key not in KEPT or not _enforceable(key, value):
            described[key] = value
        else:
            out[key] = value
    if not set(out) & TYPED:
        # Anthropic's SDKs refuse such a schema before sending it: it could hold any JSON.
        raise Unfit("a subschema that allows any value (no `type`)")
    _close_object(schema, out)
    if described:
        out["description"] = _described(out.get("description"), described)
    return out


def _check_value(key: str, value: Any) -> None:
    """A keyword whose value is of the wrong kind (VALUES) is Unfit."""
    check = VALUES.get(key)
    if check is not None and not check[0](value):
        raise Unfit(f"`{key}` is not {check[1]}")


def _merged_all_of(schema: dict[str, Any]) -> dict[str, Any]:
    """An `allOf` of one schema merged into its parent (pydantic writes a field's model so)."""
    parts = schema.get("allOf")
    if not isinstance(parts, list) or len(parts) != 1 or not isinstance(parts[0], dict):
        return schema
    rest = {key: value for key, value in schema.items() if key != "allOf"}
    if set(rest) & set(parts[0]) - REF_SIBLINGS:
        raise Unfit("`allOf` overlaps the keywords beside it")
    return {**parts[0], **rest}


def _ref_node(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema["$ref"]
    if not isinstance(ref, str):
        raise Unfit("`$ref` is not a string")
    if not LOCAL_REF.match(ref):
        raise Unfit(f"`$ref` {shown(ref)} does not name a definition of this schema")
    extra = set(schema) - REF_SIBLINGS - {"$ref"}
    if extra:
        raise Unfit(f"`$ref` with `{sorted(extra)[0]}` beside it")
    out: dict[str, Any] = {"$ref": ref}
    for key in ("$defs", "definitions"):
        if key in schema:
            out[key] = _schemas(schema[key], key)
    return out


def _all_of(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise Unfit("`allOf` must be a non-empty list of schemas")
    if any(isinstance(part, dict) and "$ref" in part for part in value):
        raise Unfit("`allOf` with a `$ref`")
    return [_node(part) for part in value]


def _schemas(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unfit(f"`{key}` must map names to schemas")
    return {name: _node(sub) for name, sub in value.items()}


def _enum(value: Any) -> list[Any]:
    if not isinstance(value, list) or any(isinstance(item, dict | list) for item in value):
        raise Unfit("`enum` values must be strings, numbers, booleans or null")
    return value


def _enforceable(key: str, value: Any) -> bool:
    """False for a supported keyword whose value the grammar cannot enforce."""
    # _check_value has made sure of the value's kind.
    if key == "format":
        return value in FORMATS
    if key == "pattern":
        return not REFUSED_REGEX.search(value)
    if key == "minItems":
        return value <= 1
    return True


def _close_object(schema: dict[str, Any], out: dict[str, Any]) -> None:
    """`additionalProperties: false`, which Anthropic requires of every object."""
    kinds = schema.get("type")
    is_object = "object" in (kinds if isinstance(kinds, list) else [kinds]) or "properties" in out
    extra = schema.get("additionalProperties")
    if not is_object:
        if extra not in (None, False):
            raise Unfit("`additionalProperties` outside an object")
        return
    if isinstance(extra, dict) and extra:
        raise Unfit("an object whose `additionalProperties` is a schema (a map)")
    # Closing an object with declared properties only rules out extra keys, which every
    # answer may leave out; an object that declares none would have to stay empty.
    if extra is not False and not out.get("properties"):
        raise Unfit("an object that declares no properties")
    out["additionalProperties"] = False


def _described(description: Any, constraints: dict[str, Any]) -> str:
    listed = ", ".join(
        f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in constraints.items()
    )
    note = f"Also keep to: {listed}."
    return f"{description}\n\n{note}" if isinstance(description, str) and description else note
