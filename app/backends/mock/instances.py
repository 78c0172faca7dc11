"""Instances of a JSON Schema, filled from the prompt's literals, else defaults or seeded values."""

from __future__ import annotations

import json
import random
from typing import Any

from app.backends.mock.extract import Literals
from app.backends.mock.schemas import SCALARS, SchemaDocument, schema_type, value_fits
from app.backends.mock.values import (
    count,
    name_format,
    number_fits,
    plausible_number,
    plausible_string,
    string_fits,
)

_MISSING = object()
_MAX_DEPTH = 24
# Below this depth optional properties are filled too, and arrays get at least one item.
_OPTIONAL_DEPTH = 4
# A `$ref` met this many times on one path is recursion: take the shortest way out.
_REF_REPEATS = 2
_MAX_LITERAL_ITEMS = 32
_LITERAL_KINDS = {"date": "date", "date-time": "date-time", "email": "email", "uuid": "uuid"}
_LITERAL_KINDS.update({"idn-email": "email", "uri": "uri", "url": "uri", "iri": "uri"})
# Characters of JSON one instance may take: far beyond any model's output limit, and small
# enough that nested `minItems` or `minProperties` cannot make a request run for minutes.
MAX_SIZE = 100_000


class InstanceBuilder:
    """Builds one instance of a schema; literals are consumed in the order fields appear."""

    def __init__(self, schema: Any, literals: Literals, rng: random.Random) -> None:
        self.document = SchemaDocument(schema)
        self.literals = literals
        self.rng = rng
        # At most the JSON length of what was built; past MAX_SIZE the instance stops growing.
        self.size = 0

    @property
    def full(self) -> bool:
        """True when the instance outgrew MAX_SIZE and was left unfinished."""
        return self.size > MAX_SIZE

    def build(self) -> Any:
        """An instance of the whole schema (best effort: None for a schema nested beyond reason)."""
        try:
            return self._value(self.document.root, "", 0, ())
        except RecursionError:
            return None

    def _value(self, schema: Any, name: str, depth: int, refs: tuple) -> Any:
        if self.full:
            return None
        value = self._make(schema, name, depth, refs)
        self.size += _own_size(value)
        return value

    def _make(self, schema: Any, name: str, depth: int, refs: tuple) -> Any:
        schema, refs = self.document.resolve(schema, refs)
        deep = depth > _OPTIONAL_DEPTH or any(refs.count(ref) >= _REF_REPEATS for ref in refs)
        if depth > _MAX_DEPTH:
            return None
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            found = self._literal(schema, name)
            return found if found is not _MISSING else self._fallback(schema, schema["enum"][0])
        branches = self.document.branches(schema, refs)
        if branches:
            return self._union(schema, branches, name, depth, deep)
        kind = schema_type(schema)
        if kind == "object":
            return self._object(schema, name, depth, refs, deep)
        if kind == "array":
            return self._array(schema, name, depth, refs, deep)
        if kind == "null":
            return None
        found = self._literal(schema, name)
        return found if found is not _MISSING else self._fallback(schema, _MISSING, name)

    def _literal(self, schema: dict[str, Any], name: str) -> Any:
        """A literal from the prompt that fits a scalar or enum schema, else _MISSING."""
        found: Any = None
        if isinstance(schema.get("enum"), list):
            options = schema["enum"]
            found = self.literals.take_mention([o for o in options if isinstance(o, str)])
            if found is None and any(_is_number(o) for o in options):
                number = self.literals.take_number(lambda v: v in options)
                found = next((o for o in options if _is_number(o) and o == number), None)
            return _MISSING if found is None else found
        kind = schema_type(schema)
        if kind in ("integer", "number"):
            found = self.literals.take_number(lambda v: number_fits(schema, v, kind == "integer"))
            found = int(found) if found is not None and kind == "integer" else found
        elif kind == "string" or kind is None:
            fmt = schema.get("format")
            literal_kind = _LITERAL_KINDS.get(fmt) if fmt else name_format(name)
            found = self.literals.take_string(lambda v: string_fits(schema, v), literal_kind)
        elif kind == "boolean":
            found = self.literals.take_boolean()
        return _MISSING if found is None else found

    def _fallback(self, schema: dict[str, Any], plausible: Any, name: str = "") -> Any:
        """The schema's default or first example when they fit, else a plausible value."""
        examples = schema.get("examples")
        candidates = [schema["default"]] if "default" in schema else []
        candidates += examples if isinstance(examples, list) else []
        candidates += [schema["example"]] if "example" in schema else []
        for candidate in candidates:
            if value_fits(candidate, schema):
                return candidate
        if plausible is not _MISSING:
            return plausible
        kind = schema_type(schema)
        if kind in ("integer", "number"):
            return plausible_number(schema, kind == "integer", self.rng)
        if kind == "boolean":
            return self.rng.random() < 0.5
        return plausible_string(schema, name, self.rng)

    def _union(self, schema: dict, branches: list, name: str, depth: int, deep: bool) -> Any:
        options = [(b, r) for b, r in branches if schema_type(b) != "null" or "const" in b]
        nullable = len(options) < len(branches)
        for branch, _ in options:
            if schema_type(branch) in SCALARS or isinstance(branch.get("enum"), list):
                found = self._literal(branch, name)
                if found is not _MISSING:
                    return found
        examples = schema.get("examples")
        candidates = [schema["default"]] if "default" in schema else []
        for candidate in candidates + (examples if isinstance(examples, list) else []):
            if any(value_fits(candidate, branch) for branch, _ in branches):
                return candidate
        if not options or (nullable and deep):
            return None
        if deep:  # recursion: a branch that does not lead back into it ends the instance sooner
            options.sort(key=lambda option: schema_type(option[0]) not in SCALARS)
        branch, refs = self._named_branch(options)
        return self._value(branch, name, depth, refs)

    def _named_branch(self, options: list[tuple[dict, tuple]]) -> tuple[dict, tuple]:
        """The branch whose tag (a `const` property or its title) the prompt names first."""
        best, best_at = options[0], None
        for option in options:
            tags = [option[0].get("title")]
            for prop in (option[0].get("properties") or {}).values():
                resolved, _ = self.document.resolve(prop, option[1])
                tags.append(resolved.get("const"))
            at = self.literals.first_mention([t for t in tags if isinstance(t, str)])
            if at is not None and (best_at is None or at < best_at):
                best, best_at = option, at
        return best

    def _object(self, schema: dict, name: str, depth: int, refs: tuple, deep: bool) -> dict:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = [key for key in schema.get("required") or [] if isinstance(key, str)]
        extra = schema.get("additionalProperties", True)
        extra = extra if isinstance(extra, dict) else {} if extra is not False else None
        out: dict[str, Any] = {}
        for key, sub in properties.items():
            if key in required or not deep:
                out[key] = self._value(sub, key, depth + 1, refs)
        for key in required:
            if key not in out:
                out[key] = self._value(extra or {}, key, depth + 1, refs)
        wanted = count(schema, "minProperties") or 0
        while extra is not None and len(out) < wanted and not self.full:
            out[f"key_{len(out) + 1}"] = self._value(extra, name, depth + 1, refs)
        return out

    def _array(self, schema: dict, name: str, depth: int, refs: tuple, deep: bool) -> list:
        low, high = count(schema, "minItems") or 0, count(schema, "maxItems")
        prefix = schema.get("prefixItems")
        items = schema.get("items", {})
        if isinstance(items, list):  # draft-04 tuple form
            prefix, items = items, schema.get("additionalItems", {})
        prefix = prefix if isinstance(prefix, list) else []
        out = [self._value(p, name, depth + 1, refs) for p in prefix[:high]]
        if items is False or (high is not None and len(out) >= high):
            return out
        item, item_refs = self.document.resolve(items if isinstance(items, dict) else {}, refs)
        if schema_type(item) in SCALARS or isinstance(item.get("enum"), list):
            while len(out) < min(high or _MAX_LITERAL_ITEMS, _MAX_LITERAL_ITEMS):
                found = self._literal(item, name)
                if found is _MISSING:
                    break
                out.append(found)
        default = schema.get("default")
        if not out and isinstance(default, list) and low <= len(default) <= (high or len(default)):
            return default
        target = max(low, len(out), 0 if deep else 1)
        target = min(target, high) if high is not None else target
        while len(out) < target and not self.full:
            out.append(self._value(item, name, depth + 1, item_refs))
        return self._distinct(out, item, name, depth, low) if schema.get("uniqueItems") else out

    def _distinct(self, values: list, item: dict, name: str, depth: int, low: int) -> list:
        """`values` without repeats, topped up to `low` items with new ones when possible."""
        out = _unique(values, item)
        seen = {_key(value) for value in out}
        attempts = 0
        while len(out) < low and attempts < 8 * low and not self.full:
            attempts += 1
            value = self._value(item, name, depth + 1, ())
            if _key(value) not in seen:
                seen.add(_key(value))
                out.append(value)
        return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _unique(values: list, item: dict[str, Any]) -> list:
    """The values without repeats; enum members not used yet replace the repeats."""
    seen: set[str] = set()
    spare = [o for o in item.get("enum") or [] if _key(o) not in {_key(v) for v in values}]
    out = []
    for value in values:
        if _key(value) in seen:
            if not spare:
                continue
            value = spare.pop(0)
        seen.add(_key(value))
        out.append(value)
    return out


def _own_size(value: Any) -> int:
    """The JSON characters `value` adds besides its members, which were counted as they were
    made: quotes, brackets, commas, keys (the compact form, as the reply writes it)."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, dict):
        return 2 + sum(len(str(key)) + 4 for key in value)
    if isinstance(value, list):
        return 2 + len(value)
    return len(str(value))
