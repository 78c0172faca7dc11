"""The OpenAI OpenAPI subset, read in place and turned into strict JSON-Schema validators."""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.support.servers import ROOT

SPEC_PATH = ROOT.parent / "shared" / "openai-openapi" / "openapi-subset.json"
_SPEC_URI = "urn:openai-openapi-subset"


def _nullable_to_any_of(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 `nullable: true` (ignored by 2020-12 validators) into anyOf null."""
    if isinstance(node, list):
        return [_nullable_to_any_of(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_to_any_of(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def _forbid_extra_keys(node: Any) -> Any:
    """Close every object schema that lists `properties`: keys the spec does not name are errors.

    The spec leaves objects open, so a body with a misspelt or invented key would still pass;
    the gateway must send exactly the documented shape. Only response schemas are validated
    here, and none of them uses `allOf` (where closing the parts would be wrong).
    """
    if isinstance(node, list):
        return [_forbid_extra_keys(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _forbid_extra_keys(value) for key, value in node.items()}
    if "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    return node


@functools.cache
def spec() -> dict[str, Any]:
    """The spec as published (read once per test session)."""
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


@functools.cache
def _registry() -> Registry:
    document = _forbid_extra_keys(_nullable_to_any_of(copy.deepcopy(spec())))
    return Registry().with_resource(_SPEC_URI, Resource.from_contents(document, DRAFT202012))


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for `#/components/schemas/<name>`, with $refs resolved inside the spec."""
    if name not in spec()["components"]["schemas"]:
        raise KeyError(f"the spec has no schema {name}")
    return jsonschema.Draft202012Validator(
        {"$ref": f"{_SPEC_URI}#/components/schemas/{name}"}, registry=_registry()
    )


def spec_errors(name: str, instance: Any) -> list[str]:
    """Every violation of schema `name` by `instance`, as readable lines (empty when valid)."""
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: list(map(str, e.path)))
    return [_describe(error) for error in errors]


def assert_matches_spec(name: str, instance: Any) -> None:
    """Fail with every violation when `instance` does not match schema `name`."""
    errors = spec_errors(name, instance)
    assert not errors, f"{name} violated:\n  " + "\n  ".join(errors) + f"\nbody: {instance!r}"


def _describe(error: jsonschema.ValidationError) -> str:
    text = f"{_path(error.absolute_path)}: {error.message}"
    if error.context:
        # anyOf/oneOf failures hide the reason; show the branch that came closest.
        closest = jsonschema.exceptions.best_match(error.context)
        text += f" (closest: {_path(closest.absolute_path)}: {closest.message})"
    return text


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out.lstrip(".") or "<root>"
