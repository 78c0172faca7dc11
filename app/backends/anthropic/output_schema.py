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
from app.backends.anthropic.schema_malformed import check_schema

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


def convert(schema: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(the schema to send as `output_config.format.schema`, None), or (None, the reason it
    cannot be sent). A schema that is not valid JSON Schema at all raises
    schema_malformed.Malformed instead.

    Every answer valid under the result is valid under `schema`, except for the constraint
    keywords Anthropic cannot enforce (`minimum`, `maxLength`, unsupported formats and
    patterns, …): those move into the description, so the model is still asked to keep them.
    Objects that declare properties get `additionalProperties: false`; `oneOf` becomes `anyOf`;
    an `allOf` of one schema is merged into its parent.
    """
    check_schema(schema)
    try:
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
        if key in DROPPED or key == "additionalProperties":
            continue
        if key in ("anyOf", "oneOf"):
            if "anyOf" in out:
                raise Unfit("`anyOf` and `oneOf` together")
            # Branches of generated unions are told apart by a `const` tag: any-of matches
            # the same answers there.
            out["anyOf"] = [_node(branch) for branch in value]
        elif key == "allOf":
            out[key] = _all_of(value)
        elif key in ("properties", "$defs", "definitions"):
            out[key] = _schemas(value)
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
    if not LOCAL_REF.match(ref):
        raise Unfit(f"`$ref` {shown(ref)} does not name a definition of this schema")
    extra = set(schema) - REF_SIBLINGS - {"$ref"}
    if extra:
        raise Unfit(f"`$ref` with `{sorted(extra)[0]}` beside it")
    out: dict[str, Any] = {"$ref": ref}
    for key in ("$defs", "definitions"):
        if key in schema:
            out[key] = _schemas(schema[key])
    return out


def _all_of(value: list[Any]) -> list[dict[str, Any]]:
    if any(isinstance(part, dict) and "$ref" in part for part in value):
        raise Unfit("`allOf` with a `$ref`")
    return [_node(part) for part in value]


def _schemas(value: dict[str, Any]) -> dict[str, Any]:
    return {name: _node(sub) for name, sub in value.items()}


def _enum(value: list[Any]) -> list[Any]:
    if any(isinstance(item, dict | list) for item in value):
        raise Unfit("`enum` values must be strings, numbers, booleans or null")
    return value


def _enforceable(key: str, value: Any) -> bool:
    """False for a supported keyword whose value the grammar cannot enforce."""
    # check_schema has made sure of the value's kind.
    if key == "format":
        return value in FORMATS
    if key == "pattern":
        return not REFUSED_REGEX.search(value)
    if key == "minItems":
        # A whole float (1.0) is valid JSON Schema, but not one the grammar is known to take.
        return isinstance(value, int) and value <= 1
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
