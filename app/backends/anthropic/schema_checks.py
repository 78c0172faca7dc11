"""Whole-schema checks for output_schema: no recursion through `$ref`s, and Anthropic's limits
on optional and union-typed properties."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

LOCAL_REF = re.compile(r"^#/(\$defs|definitions)/([^/]+)$")
MAX_OPTIONAL = 24
MAX_UNIONS = 16


class Unfit(Exception):
    """The schema uses something Anthropic's structured outputs cannot take."""


def refuse_recursion(schema: dict[str, Any]) -> None:
    """Recursive schemas (a `$ref` back to the root or round a cycle of definitions) and
    references to missing definitions are refused."""
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            defs.update({f"#/{key}/{name}": sub for name, sub in schema[key].items()})
    root = {key: value for key, value in schema.items() if key not in ("$defs", "definitions")}
    _local_refs(root, defs)
    graph = {ref: _local_refs(sub, defs) for ref, sub in defs.items()}
    # Depth first with a stack, not recursion: a chain of definitions can be any length.
    done: set[str] = set()
    for first in graph:
        if first in done:
            continue
        path, stack = {first}, [(first, iter(graph[first]))]
        while stack:
            ref, pending = stack[-1]
            following = next(pending, None)
            if following is None:
                stack.pop()
                path.discard(ref)
                done.add(ref)
            elif following in path:
                raise Unfit("recursive schemas are not supported")
            elif following not in done:
                path.add(following)
                stack.append((following, iter(graph[following])))


def _local_refs(node: Any, defs: dict[str, Any]) -> list[str]:
    """The definitions `node` references; one back to the root, or to a definition that is not
    there, is Unfit (other references are refused by _ref_node)."""
    found = []
    for ref in _refs(node):
        if ref == "#":
            raise Unfit("recursive schemas are not supported")
        if not LOCAL_REF.match(ref):
            continue
        if ref not in defs:
            raise Unfit(f"`$ref` {shown(ref)} names no definition")
        found.append(ref)
    return found


def shown(value: str) -> str:
    """`value` quoted for a reason, shortened: the reason goes back in an error message."""
    return repr(value if len(value) <= 80 else value[:77] + "...")


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


def check_limits(schema: dict[str, Any]) -> None:
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
