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
from collections.abc import Iterator
from typing import Any

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
LOCAL_REF = re.compile(r"^#/(\$defs|definitions)/([^/]+)$")
MAX_OPTIONAL = 24
MAX_UNIONS = 16


class Unfit(Exception):
    """The schema uses something Anthropic's structured outputs cannot take."""


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
        _refuse_recursion(schema)
        converted = _node(schema)
        _check_limits(converted)
    except Unfit as exc:
        return None, str(exc)
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
            if "anyOf" in out or not isinstance(value, list):
                raise Unfit(f"`{key}` must be one list of schemas")
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
    if not isinstance(ref, str) or not LOCAL_REF.match(ref):
        raise Unfit(f"`$ref` {ref!r} does not name a definition of this schema")
    extra = set(schema) - REF_SIBLINGS - {"$ref"}
    if extra:
        raise Unfit(f"`$ref` with `{sorted(extra)[0]}` beside it")
    out: dict[str, Any] = {"$ref": ref}
    for key in ("$defs", "definitions"):
        if key in schema:
            out[key] = _schemas(schema[key], key)
    return out


def _all_of(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise Unfit("`allOf` must be a list of schemas")
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
    if key == "format":
        return value in FORMATS
    if key == "pattern":
        return isinstance(value, str) and not REFUSED_REGEX.search(value)
    if key == "minItems":
        return value in (0, 1) and not isinstance(value, bool)
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


def _refuse_recursion(schema: dict[str, Any]) -> None:
    """Recursive schemas (a `$ref` back to the root or round a cycle of definitions) and
    references to missing definitions are refused."""
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            defs.update({f"#/{key}/{name}": sub for name, sub in schema[key].items()})
    root = {key: value for key, value in schema.items() if key not in ("$defs", "definitions")}
    done: set[str] = set()

    def visit(node: Any, path: tuple[str, ...]) -> None:
        for ref in _refs(node):
            if ref == "#" or ref in path:
                raise Unfit("recursive schemas are not supported")
            if ref in done or not LOCAL_REF.match(ref):
                continue
            if ref not in defs:
                raise Unfit(f"`$ref` {ref!r} names no definition")
            visit(defs[ref], (*path, ref))
            done.add(ref)

    visit(root, ())
    for ref, sub in defs.items():
        visit(sub, (ref,))


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _check_limits(schema: dict[str, Any]) -> None:
    """Anthropic's documented limits on optional and union-typed properties."""
    optional = unions = 0
    for node in _subschemas(schema):
        properties = node.get("properties") or {}
        optional += len(set(properties) - set(node.get("required") or []))
        unions += sum(1 for sub in properties.values() if is_union(sub))
    if optional > MAX_OPTIONAL:
        raise Unfit(f"{optional} optional properties, more than {MAX_OPTIONAL}")
    if unions > MAX_UNIONS:
        raise Unfit(f"{unions} properties with a union type, more than {MAX_UNIONS}")


def is_union(schema: Any) -> bool:
    """True for a schema with `anyOf` or a list of types (Anthropic's union-typed parameter)."""
    return isinstance(schema, dict) and ("anyOf" in schema or isinstance(schema.get("type"), list))


def _subschemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield schema
    for key in ("properties", "$defs", "definitions"):
        for sub in (schema.get(key) or {}).values():
            yield from _subschemas(sub)
    for key in ("anyOf", "allOf"):
        for sub in schema.get(key) or []:
            yield from _subschemas(sub)
    if isinstance(schema.get("items"), dict):
        yield from _subschemas(schema["items"])
