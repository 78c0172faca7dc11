"""JSON Schema reduced to the OpenAPI subset that Gemini's `Schema` object accepts."""

from __future__ import annotations

import json
from typing import Any

from app.errors import InvalidRequestError

# Fields of the v1beta `Schema` object; every other keyword is dropped.
KEPT = (
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
)
TYPES = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
}
# Formats with a meaning to Gemini; others (uri, email, uuid…) only risk a rejection.
FORMATS = {
    "STRING": {"date-time", "enum"},
    "INTEGER": {"int32", "int64"},
    "NUMBER": {"float", "double"},
}
_MAX_DEPTH = 64


def to_gemini_schema(schema: Any, param: str) -> dict[str, Any]:
    """Inline `$ref`s, fold `allOf`/`oneOf`/type lists/null into Gemini's Schema subset."""
    if not isinstance(schema, dict):
        raise InvalidRequestError("A JSON schema must be an object.", param=param)
    return _Reducer(schema, param).convert(schema, ())


def with_property_ordering(schema: dict[str, Any]) -> dict[str, Any]:
    """Add `propertyOrdering` in declaration order to every object with several properties.

    Gemini otherwise generates the keys of structured output in alphabetical order, which
    would put e.g. an `answer` before the `reasoning` meant to lead to it.
    """
    out = dict(schema)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {k: with_property_ordering(v) for k, v in out["properties"].items()}
        if len(out["properties"]) > 1:
            out.setdefault("propertyOrdering", list(out["properties"]))
    if isinstance(out.get("items"), dict):
        out["items"] = with_property_ordering(out["items"])
    if isinstance(out.get("anyOf"), list):
        out["anyOf"] = [with_property_ordering(m) for m in out["anyOf"]]
    return out


def plain_json_schema(schema: Any) -> Any:
    """A schema for `parametersJsonSchema` / `responseJsonSchema`: JSON Schema as sent, without
    the `$schema` dialect marker (Gemini ignores what it does not support)."""
    if isinstance(schema, dict):
        return {k: v for k, v in schema.items() if k != "$schema"}
    return schema


class _Reducer:
    def __init__(self, root: dict[str, Any], param: str) -> None:
        self.root = root
        self.param = param

    def convert(self, node: Any, refs: tuple[str, ...], depth: int = 0) -> dict[str, Any]:
        if not isinstance(node, dict):
            return {}  # `true` or a malformed member: an unconstrained value
        if depth > _MAX_DEPTH:
            raise self.error("The JSON schema is nested too deeply.")
        node, refs = self.resolve(node, refs)
        node = self.fold(node, refs)
        if "anyOf" in node or "oneOf" in node:
            return self.union(node, refs, depth)
        kind = node.get("type")
        if isinstance(kind, list):
            members = [{**node, "type": k} for k in kind]
            return self.union({**_annotations(node), "anyOf": members}, refs, depth)
        if kind == "null":
            return {"type": "STRING", "nullable": True}
        out = {k: node[k] for k in KEPT if k in node and k not in _STRUCTURAL}
        if kind is not None:
            out["type"] = TYPES.get(str(kind).lower(), str(kind).upper())
        self.enum(node, out)
        if "format" in out and out["format"] not in FORMATS.get(out.get("type", ""), ()):
            del out["format"]
        if isinstance(node.get("properties"), dict):
            props = node["properties"]
            out["properties"] = {n: self.convert(s, refs, depth + 1) for n, s in props.items()}
            out.setdefault("type", "OBJECT")
            if isinstance(node.get("required"), list):
                out["required"] = [n for n in _strings(node["required"]) if n in props]
        items = node.get("items", node.get("prefixItems"))
        if isinstance(items, list):
            items = {"anyOf": items} if items else {}
        if isinstance(items, dict):
            out["items"] = self.convert(items, refs, depth + 1)
            out.setdefault("type", "ARRAY")
        return out

    def resolve(self, node: dict[str, Any], refs: tuple[str, ...]) -> tuple[dict, tuple]:
        """Replace a `$ref` by its target; keywords beside the `$ref` win over the target's."""
        while isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in refs:
                raise self.error(
                    f"Recursive JSON schemas ({ref} refers to itself) cannot be expressed in "
                    "Gemini's schema subset; set `schema_mode: json` on the backend instead."
                )
            target = self.pointer(ref)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            node, refs = {**target, **siblings}, (*refs, ref)
        return node, refs

    def pointer(self, ref: str) -> dict[str, Any]:
        """The schema object a local JSON pointer such as `#/$defs/Item` names."""
        if not ref.startswith("#"):
            raise self.error(f"Only local $ref pointers are supported, not {ref!r}.")
        target: Any = self.root
        for token in filter(None, ref[1:].split("/")):
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or token not in target:
                raise self.error(f"The $ref {ref!r} points to nothing in the schema.")
            target = target[token]
        if not isinstance(target, dict):
            raise self.error(f"The $ref {ref!r} does not point to a schema object.")
        return target

    def fold(self, node: dict[str, Any], refs: tuple[str, ...]) -> dict[str, Any]:
        """Merge `allOf` members into one schema (properties and required lists combined)."""
        if not isinstance(node.get("allOf"), list):
            return node
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for member in node["allOf"]:
            if not isinstance(member, dict):
                continue
            member, member_refs = self.resolve(member, refs)
            for key, value in self.fold(member, member_refs).items():
                if key == "properties" and isinstance(value, dict):
                    own = merged.get("properties")
                    merged["properties"] = {**value, **(own if isinstance(own, dict) else {})}
                elif key == "required" and isinstance(value, list):
                    own = merged.get("required")
                    names = [*(own if isinstance(own, list) else []), *value]
                    merged["required"] = list(dict.fromkeys(_strings(names)))
                else:
                    merged.setdefault(key, value)
        return merged

    def union(self, node: dict[str, Any], refs: tuple[str, ...], depth: int) -> dict[str, Any]:
        """`anyOf`/`oneOf`: null members become `nullable`; a single other member is inlined."""
        members = [m for key in ("anyOf", "oneOf") for m in node.get(key) or []]
        nullable = any(_is_null(m) for m in members)
        others = [self.convert(m, refs, depth + 1) for m in members if not _is_null(m)]
        annotations = _annotations(node)
        if len(others) == 1:
            out = {**others[0], **annotations}
        elif others:
            out = {**annotations, "anyOf": others}
        else:
            out = {**annotations, "type": "STRING"}
        if nullable:
            out["nullable"] = True
        return out

    def enum(self, node: dict[str, Any], out: dict[str, Any]) -> None:
        """Gemini takes string enums only; other values are described instead of enforced."""
        values = node["enum"] if isinstance(node.get("enum"), list) else None
        if values is None and "const" in node:
            values = [node["const"]]
        if values is None:
            return
        if None in values:
            out["nullable"] = True
            values = [v for v in values if v is not None]
        if values and all(isinstance(v, str) for v in values):
            out["enum"] = values
            out.setdefault("type", "STRING")
        elif values:
            allowed = ", ".join(json.dumps(v) for v in values)
            description = out.get("description", "")
            out["description"] = f"{description} (allowed values: {allowed})".strip()

    def error(self, message: str) -> InvalidRequestError:
        return InvalidRequestError(message, param=self.param)


# Keywords the reducer rebuilds itself instead of copying.
_STRUCTURAL = ("properties", "required", "items", "anyOf", "enum", "type")
_ANNOTATIONS = ("title", "description", "default", "example", "nullable")


def _annotations(node: dict[str, Any]) -> dict[str, Any]:
    return {k: node[k] for k in _ANNOTATIONS if k in node}


def _strings(items: list[Any]) -> list[str]:
    """The strings of a `required` list; anything else in it names no property."""
    return [item for item in items if isinstance(item, str)]


def _is_null(member: Any) -> bool:
    return isinstance(member, dict) and member.get("type") == "null"
