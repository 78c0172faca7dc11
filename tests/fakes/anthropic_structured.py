"""Structured outputs in the fake Anthropic API: the documented request rules, schema answers.

Rules checked, as Anthropic's structured outputs docs state them: `output_config.format` is
`{"type": "json_schema", "schema": {...}}`, for models from Claude Sonnet 4.5 on; no prefill; in
the schema every object has `additionalProperties: false`; no numeric or string length
constraints, no array constraints but `minItems` 0 or 1, string formats from the documented
list, no enum of objects or arrays, no `$ref` outside the schema, no recursion, no `allOf` with a
`$ref`, no regex backreferences, lookaround or word boundaries; at most 24 optional and 16
union-typed properties. The answer is a text block holding JSON that fits the schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

FORMATS = {
    "date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid",
}  # fmt: skip
REFUSED = {
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
    "maxLength", "maxItems", "uniqueItems",
}  # fmt: skip
# Models without structured outputs (Claude Opus 4.1 had them only in the beta).
NO_FORMAT = (
    "claude-instant", "claude-2", "claude-3", "claude-sonnet-4-0", "claude-sonnet-4-2",
    "claude-opus-4-0", "claude-opus-4-2", "claude-opus-4-1",
)  # fmt: skip
REFUSED_REGEX = re.compile(r"\\[1-9]|\(\?<?[=!]|\\[bB]")
MAX_OPTIONAL = 24
MAX_UNIONS = 16


def output_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of the request's `output_config.format`, if any."""
    return ((body.get("output_config") or {}).get("format") or {}).get("schema")


def check(body: dict[str, Any]) -> str | None:
    """The first broken structured-output rule of a (structurally valid) request, or None."""
    config = body.get("output_config")
    if config is None:
        return None
    if not isinstance(config, dict) or set(config) - {"effort", "format"}:
        return "output_config: Extra inputs are not permitted"
    format_ = config.get("format")
    if format_ is None:
        return None
    if not isinstance(format_, dict) or set(format_) != {"type", "schema"}:
        return "output_config.format: Field required"
    if format_["type"] != "json_schema" or not isinstance(format_["schema"], dict):
        return "output_config.format.type: Input should be 'json_schema'"
    if body["model"].startswith(NO_FORMAT):
        return f"'{body['model']}' does not support output format."
    if body["messages"][-1]["role"] == "assistant":
        return "Prefilling assistant messages is not supported when using output format."
    return _check_schema(format_["schema"])


def _check_schema(schema: dict[str, Any]) -> str | None:
    defs = {
        f"#/{key}/{name}": sub
        for key in ("$defs", "definitions")
        for name, sub in (schema.get(key) or {}).items()
    }
    optional = unions = 0
    for path, node in _nodes(schema, "schema"):
        problem = _check_node(path, node, defs)
        if problem:
            return problem
        properties = node.get("properties") or {}
        optional += len(set(properties) - set(node.get("required") or []))
        unions += sum(1 for sub in properties.values() if _union(sub))
    if optional > MAX_OPTIONAL:
        return f"Schema has {optional} optional parameters; at most {MAX_OPTIONAL} are supported."
    if unions > MAX_UNIONS:
        return f"Schema has {unions} union-typed parameters; at most {MAX_UNIONS} are supported."
    return _check_cycles(schema, defs)


def _check_node(path: str, node: dict[str, Any], defs: dict[str, Any]) -> str | None:
    for key in sorted(REFUSED & set(node)):
        return f"{path}: For '{key}', property '{key}' is not supported"
    kinds = node.get("type")
    if "object" in (kinds if isinstance(kinds, list) else [kinds]) or "properties" in node:
        if node.get("additionalProperties") is not False:
            return f"{path}: For 'object' type, 'additionalProperties' must be set to false"
    if node.get("minItems", 0) not in (0, 1):
        return f"{path}: For 'array' type, property 'minItems' only supports values 0 or 1"
    if "format" in node and node["format"] not in FORMATS:
        return f"{path}: String format '{node['format']}' is not supported"
    if any(isinstance(item, dict | list) for item in node.get("enum") or []):
        return f"{path}: Enum values must be strings, numbers, booleans or null"
    ref = node.get("$ref")
    if ref is not None and ref != "#" and ref not in defs:
        return f"{path}: External or unresolvable $ref '{ref}' is not supported"
    if any("$ref" in part for part in node.get("allOf") or []):
        return f"{path}: 'allOf' with '$ref' is not supported"
    if isinstance(node.get("pattern"), str) and REFUSED_REGEX.search(node["pattern"]):
        return f"{path}: Regex pattern '{node['pattern']}' is not supported"
    return None


def _check_cycles(schema: dict[str, Any], defs: dict[str, Any]) -> str | None:
    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield from [value] if key == "$ref" else refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    def cyclic(ref: str, seen: tuple[str, ...]) -> bool:
        if ref == "#" or ref in seen:
            return True
        return ref in defs and any(cyclic(inner, (*seen, ref)) for inner in refs(defs[ref]))

    if any(cyclic(ref, ()) for ref in refs(schema)):
        return "Recursive schemas are not supported"
    return None


def _union(schema: Any) -> bool:
    return isinstance(schema, dict) and ("anyOf" in schema or isinstance(schema.get("type"), list))


def _nodes(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(node, dict):
        return
    yield path, node
    for key in ("properties", "$defs", "definitions"):
        for name, sub in (node.get(key) or {}).items():
            yield from _nodes(sub, f"{path}.{key}.{name}")
    for key in ("anyOf", "allOf", "oneOf"):
        for i, sub in enumerate(node.get(key) or []):
            yield from _nodes(sub, f"{path}.{key}.{i}")
    yield from _nodes(node.get("items"), f"{path}.items")


def sample(schema: dict[str, Any], name: str = "value", root: dict[str, Any] | None = None) -> Any:
    """A value that satisfies a JSON schema of the kinds the tests use (recursive ones too)."""
    return _sample(schema, name, root if root is not None else schema, 0)


def _sample(schema: dict[str, Any], name: str, root: dict[str, Any], depth: int) -> Any:
    if "$ref" in schema:
        ref = schema["$ref"]
        target = root if ref == "#" else root[ref.split("/")[1]][ref.split("/")[2]]
        return _sample(target, name, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("anyOf"):
        return _sample(schema["anyOf"][0], name, root, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {key: _sample(sub, key, root, depth + 1) for key, sub in properties.items()}
    if kind == "array":
        # Deep down an empty list ends a recursive schema.
        return [_sample(schema.get("items") or {}, name, root, depth + 1)] if depth < 4 else []
    return _scalar(kind, name)


def _scalar(kind: Any, name: str) -> Any:
    if kind == "integer":
        return 42
    if kind == "number":
        return 21.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "Paris" if name in ("city", "location") else f"{name}-value"
