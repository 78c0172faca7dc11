"""Reading JSON Schemas as clients send them: `$ref`/`$defs`, `allOf`, unions and types."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from app.backends.mock.values import number_fits, string_fits

SCALARS = ("string", "integer", "number", "boolean")
_UNION = ("anyOf", "oneOf")
# Annotations of a union that do not describe its branches.
_NOT_INHERITED = {"anyOf", "oneOf", "default", "examples", "example", "title", "description"}
_MAX_REF_HOPS = 32
_MAX_REF_VISITS = 4


class SchemaDocument:
    """One schema document: resolves its references and answers questions about subschemas."""

    def __init__(self, root: Any) -> None:
        self.root = root if isinstance(root, dict) else {}
        self._pointers: dict[str, Any] = {}

    def _lookup(self, ref: str) -> dict[str, Any]:
        if ref not in self._pointers:
            node: Any = self.root if ref.startswith("#") else None
            for part in ref.removeprefix("#").strip("/").split("/") if node is not None else ():
                if not part:
                    continue
                key = unquote(part).replace("~1", "/").replace("~0", "~")
                if isinstance(node, dict):
                    node = node.get(key)
                elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                    node = node[int(key)]
                else:
                    node = None
            self._pointers[ref] = node if isinstance(node, dict) else {}
        return self._pointers[ref]

    def resolve(self, schema: Any, refs: tuple[str, ...] = ()) -> tuple[dict[str, Any], tuple]:
        """The schema with `$ref` followed and `allOf` merged, and the refs taken to reach it."""
        if not isinstance(schema, dict):
            return {}, refs
        for _ in range(_MAX_REF_HOPS):
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                break
            if refs.count(ref) > _MAX_REF_VISITS:
                return {}, refs  # a reference that only leads back to itself
            refs = (*refs, ref)
            siblings = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**self._lookup(ref), **siblings}
        if isinstance(schema.get("allOf"), list):
            schema, refs = self._merge_all_of(schema, refs)
        return schema, refs

    def _merge_all_of(self, schema: dict[str, Any], refs: tuple) -> tuple[dict[str, Any], tuple]:
        merged: dict[str, Any] = {}
        properties: dict[str, Any] = {}
        required: list[str] = []
        parts = [p for p in schema["allOf"] if isinstance(p, dict)]
        own = {k: v for k, v in schema.items() if k != "allOf"}
        for part in [*parts, own]:
            part, refs = self.resolve(part, refs) if part is not own else (part, refs)
            properties.update(part.get("properties") or {})
            required += [r for r in part.get("required") or [] if r not in required]
            for key, value in part.items():
                merged[key] = value if part is own else merged.get(key, value)
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged, refs

    def branches(self, schema: dict[str, Any], refs: tuple) -> list[tuple[dict[str, Any], tuple]]:
        """The alternatives of a union (`anyOf`, `oneOf` or a type list), resolved; else []."""
        inherited = {k: v for k, v in schema.items() if k not in _NOT_INHERITED}
        for key in _UNION:
            options = schema.get(key)
            if isinstance(options, list) and options:
                resolved = [self.resolve(option, refs) for option in options]
                return [({**inherited, **option}, path) for option, path in resolved]
        types = schema.get("type")
        if isinstance(types, list) and len(types) > 1:
            return [({**schema, "type": t}, refs) for t in types]
        return []


def schema_type(schema: dict[str, Any]) -> str | None:
    """The JSON type a (resolved, non-union) schema describes, inferred when `type` is absent."""
    declared = schema.get("type")
    if isinstance(declared, list):
        declared = declared[0] if declared else None
    if isinstance(declared, str):
        return declared
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
        return "string"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "multipleOf")):
        return "number"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else "?"


def value_fits(value: Any, schema: dict[str, Any]) -> bool:
    """A shallow check that a default or example suits the schema (type, enum, const, limits)."""
    if "const" in schema:
        return value == schema["const"]
    if isinstance(schema.get("enum"), list):
        return value in schema["enum"]
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared] if declared else []
    kind = _json_type(value)
    if types and kind not in types and not (kind == "integer" and "number" in types):
        return False
    if kind == "string":
        return string_fits(schema, value)
    if kind in ("integer", "number"):
        return number_fits(schema, value, integer=types == ["integer"])
    return True
