"""JSON Schema → Gemini Schema reduction: refs, unions, nullability, enums, dropped keywords."""

from __future__ import annotations

import pytest

from app.backends.gemini.schema import plain_json_schema, to_gemini_schema, with_property_ordering
from app.errors import InvalidRequestError
from tests.fakes.gemini_checks import check_schema


def reduce(schema: dict) -> dict:
    out = to_gemini_schema(schema, "tools[0].function.parameters")
    check_schema(out, "schema")  # the fake API's own check of the Schema subset
    return out


def test_refs_and_defs_are_inlined_and_unknown_keywords_dropped():
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$defs": {"Tag": {"type": "string", "minLength": 1, "examples": ["x"]}},
        "definitions": {"Id": {"type": "integer", "format": "int64", "exclusiveMinimum": 0}},
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}, "uniqueItems": True},
            "id": {"$ref": "#/definitions/Id", "description": "The id"},
            "url": {"type": "string", "format": "uri"},
            "when": {"type": "string", "format": "date-time"},
        },
        "required": ["id", "ghost"],
        "additionalProperties": False,
    }
    assert reduce(schema) == {
        "type": "OBJECT",
        "properties": {
            "tags": {"type": "ARRAY", "items": {"type": "STRING", "minLength": 1}},
            "id": {"type": "INTEGER", "format": "int64", "description": "The id"},
            "url": {"type": "STRING"},
            "when": {"type": "STRING", "format": "date-time"},
        },
        "required": ["id"],
    }


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": ["string", "null"]}, {"type": "STRING", "nullable": True}),
        (
            {"anyOf": [{"type": "integer"}, {"type": "null"}], "description": "n"},
            {"type": "INTEGER", "description": "n", "nullable": True},
        ),
        (
            {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]},
        ),
        (
            {"type": ["integer", "string", "null"]},
            {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}], "nullable": True},
        ),
        ({"enum": ["a", "b", None]}, {"enum": ["a", "b"], "nullable": True, "type": "STRING"}),
        ({"const": "fixed"}, {"enum": ["fixed"], "type": "STRING"}),
        (
            {"type": "number", "enum": [0.5, 1], "description": "Step"},
            {"type": "NUMBER", "description": "Step (allowed values: 0.5, 1)"},
        ),
        ({"type": "null"}, {"type": "STRING", "nullable": True}),
        (
            {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
            {"type": "ARRAY", "items": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]}},
        ),
    ],
)
def test_unions_nullability_and_enums(schema, expected):
    assert reduce({"type": "object", "properties": {"v": schema}})["properties"]["v"] == expected


def test_all_of_members_are_merged():
    schema = {
        "$defs": {
            "Base": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
        },
        "allOf": [
            {"$ref": "#/$defs/Base"},
            {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
        ],
    }
    assert reduce(schema) == {
        "type": "OBJECT",
        "properties": {"a": {"type": "STRING"}, "b": {"type": "BOOLEAN"}},
        "required": ["a", "b"],
    }


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (
            {"$defs": {"N": {"properties": {"n": {"$ref": "#/$defs/N"}}}}, "$ref": "#/$defs/N"},
            "Recursive",
        ),
        ({"$defs": {"A": {"allOf": [{"$ref": "#/$defs/A"}]}}, "$ref": "#/$defs/A"}, "Recursive"),
        ({"properties": {"x": {"$ref": "#/$defs/Missing"}}}, "points to nothing"),
        ({"properties": {"x": {"$ref": "https://example.com/s.json"}}}, "Only local"),
    ],
)
def test_schemas_gemini_cannot_take_are_refused(schema, message):
    with pytest.raises(InvalidRequestError) as info:
        to_gemini_schema(schema, "tools[0].function.parameters")
    assert message in info.value.message
    assert info.value.param == "tools[0].function.parameters"


def test_deep_nesting_is_refused_not_crashing():
    schema: dict = {"type": "string"}
    for _ in range(200):
        schema = {"type": "array", "items": schema}
    with pytest.raises(InvalidRequestError):
        to_gemini_schema(schema, "p")


def test_property_names_that_look_like_keywords_are_kept():
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "$ref": {"type": "integer"}},
    }
    assert set(reduce(schema)["properties"]) == {"title", "$ref"}


def test_plain_json_schema_only_drops_the_dialect_marker():
    schema = {"$schema": "x", "type": "object", "additionalProperties": False}
    assert plain_json_schema(schema) == {"type": "object", "additionalProperties": False}


def test_property_ordering_follows_declaration_order_at_every_level():
    item = {"type": "OBJECT", "properties": {"z": {"type": "STRING"}, "a": {"type": "STRING"}}}
    schema = {
        "type": "OBJECT",
        "properties": {"reasoning": {"type": "STRING"}, "list": {"type": "ARRAY", "items": item}},
    }
    out = with_property_ordering(schema)
    assert out["propertyOrdering"] == ["reasoning", "list"]
    assert out["properties"]["list"]["items"]["propertyOrdering"] == ["z", "a"]
    assert "propertyOrdering" not in schema  # the input is left as it was
