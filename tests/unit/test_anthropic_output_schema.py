"""Anthropic backend: client JSON Schemas rewritten into the subset of Anthropic's structured
outputs, each result checked by the fake Anthropic API's documented rules."""

from __future__ import annotations

from typing import Any

import pytest

from app.backends.anthropic.output_schema import DROPPED, KEPT, STRUCTURAL, convert
from app.backends.anthropic.schema_malformed import Malformed
from tests.fakes import anthropic_structured


def accepted(schema: dict[str, Any]) -> dict[str, Any]:
    """The converted schema, which the fake Anthropic API must take."""
    converted, problem = convert(schema)
    assert problem is None and converted is not None
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Hi"}],
        "output_config": {"format": {"type": "json_schema", "schema": converted}},
    }
    assert anthropic_structured.check(body) is None
    return converted


def obj(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, **extra}


STRING = {"type": "string"}


def test_a_strict_openai_schema_is_sent_as_it_is():
    schema = obj(
        {"name": {"title": "Name", "type": "string"}, "tags": {"type": "array", "items": STRING}},
        required=["name", "tags"],
        additionalProperties=False,
        title="Person",
    )
    assert accepted(schema) == schema


def test_objects_with_properties_are_closed_at_every_level():
    schema = obj({"home": obj({"city": STRING}), "pets": {"type": "array", "items": obj({})}})
    schema["properties"]["pets"]["items"] = obj({"kind": STRING}, additionalProperties=True)
    converted = accepted(schema)
    assert converted["additionalProperties"] is False
    assert converted["properties"]["home"]["additionalProperties"] is False
    assert converted["properties"]["pets"]["items"]["additionalProperties"] is False


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("minimum", 0),
        ("exclusiveMaximum", 10),
        ("multipleOf", 2),
        ("maxLength", 5),
        ("format", "phone"),
        ("pattern", r"^(?=a)\w+$"),
        ("pattern", r"(a)\1"),
        ("pattern", r"\bword"),
        ("examples", ["x"]),
        ("nullable", True),
    ],
)
def test_constraints_it_cannot_enforce_move_into_the_description(keyword, value):
    converted = accepted(obj({"x": {"type": "string", "description": "An x.", keyword: value}}))
    described = converted["properties"]["x"]
    assert keyword not in described
    assert described["description"].startswith("An x.\n\nAlso keep to: ")
    assert keyword in described["description"]


def test_supported_formats_patterns_and_min_items_stay():
    x = {"type": "string", "format": "email", "pattern": r"^\w+@\w+\.[a-z]{2,3}$"}
    items = {"type": "array", "items": STRING, "minItems": 1}
    converted = accepted(obj({"x": x, "items": items}, required=["x"]))
    assert converted["properties"]["x"] == x
    assert converted["properties"]["items"] == items
    many = accepted(obj({"items": {**items, "minItems": 2, "maxItems": 4}}))["properties"]["items"]
    assert many["description"] == "Also keep to: minItems: 2, maxItems: 4."


def test_one_of_becomes_any_of_and_metadata_is_dropped():
    schema = obj(
        {"pet": {"oneOf": [obj({"cat": STRING}), obj({"dog": STRING})]}},
        **{"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:pet"},
    )
    converted = accepted(schema)
    assert "$schema" not in converted and "$id" not in converted
    assert [branch["properties"] for branch in converted["properties"]["pet"]["anyOf"]] == [
        {"cat": STRING},
        {"dog": STRING},
    ]


def test_definitions_and_references_stay_and_one_element_all_of_is_merged():
    schema = obj(
        {
            "home": {"allOf": [{"$ref": "#/$defs/Place"}], "description": "Where they live."},
            "work": {"$ref": "#/definitions/Place", "title": "Work"},
        },
        **{"$defs": {"Place": obj({"city": STRING})}, "definitions": {"Place": obj({})}},
    )
    schema["definitions"]["Place"] = obj({"city": STRING}, additionalProperties=False)
    converted = accepted(schema)
    assert converted["properties"] == {
        "home": {"$ref": "#/$defs/Place"},
        "work": {"$ref": "#/definitions/Place"},
    }
    assert converted["$defs"]["Place"]["additionalProperties"] is False


NODE = obj({"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}})


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        (obj({"child": {"$ref": "#"}}), "recursive"),
        (obj({"root": {"$ref": "#/$defs/Node"}}, **{"$defs": {"Node": NODE}}), "recursive"),
        (
            obj(
                {"a": {"$ref": "#/$defs/A"}},
                **{
                    "$defs": {
                        "A": obj({"b": {"$ref": "#/$defs/B"}}),
                        "B": obj({"a": {"$ref": "#/$defs/A"}}),
                    }
                },
            ),
            "recursive",
        ),
        (obj({"a": {"$ref": "#/$defs/Missing"}}), "names no definition"),
        (obj({"a": {"$ref": "https://example.com/a.json"}}), "does not name a definition"),
        (
            obj(
                {"a": {"$ref": "#/$defs/A", "type": "object"}},
                **{"$defs": {"A": obj({"b": STRING})}},
            ),
            "beside it",
        ),
        (
            obj(
                {"a": {"allOf": [{"$ref": "#/$defs/A"}, obj({"c": STRING})]}},
                **{"$defs": {"A": obj({"b": STRING})}},
            ),
            "`allOf` with a `$ref`",
        ),
        (obj({"a": {"enum": [{"x": 1}, "y"]}}), "`enum` values"),
        (obj({"scores": {"type": "object", "additionalProperties": {"type": "integer"}}}), "a map"),
        (obj({"extra": {"type": "object"}}), "declares no properties"),
        ({"type": "object", "properties": {}}, "declares no properties"),
        (obj({"a": {"type": "array", "prefixItems": [STRING]}}), "`prefixItems`"),
        (obj({"a": {"not": STRING}}), "`not`"),
        (obj({"a": {}}), "allows any value"),
        (obj({"a": {"description": "Anything."}}), "allows any value"),
        (obj({"a": {"type": "array", "items": [STRING]}}), "not an object"),
        (obj({"a": True}), "not an object"),
        (obj({"a": {"anyOf": [STRING], "oneOf": [STRING]}}), "`anyOf` and `oneOf` together"),
        (obj({"a": {"type": "array", "items": STRING, "minItems": 1.0}}, required=["a"]), None),
        (obj({f"p{i}": STRING for i in range(25)}), "25 optional properties"),
        (
            obj(
                {f"p{i}": {"type": ["string", "null"]} for i in range(17)},
                required=[f"p{i}" for i in range(17)],
            ),
            "17 properties with a union type",
        ),
    ],
)
def test_schemas_it_cannot_take_are_refused_with_the_reason(schema, reason):
    if reason is None:
        # Valid JSON Schema the grammar may not take: the constraint moves into the description.
        assert "minItems: 1.0" in accepted(schema)["properties"]["a"]["description"]
        return
    converted, problem = convert(schema)
    assert converted is None and reason in str(problem)


def test_the_documented_limits_themselves_pass():
    optional = obj({f"p{i}": STRING for i in range(24)})
    unions = {f"u{i}": {"anyOf": [STRING, {"type": "null"}]} for i in range(16)}
    accepted(obj({**optional["properties"], **unions}, required=list(unions)))


def test_the_clients_schema_is_not_changed():
    schema = obj({"age": {"type": "integer", "minimum": 0}})
    before = repr(schema)
    accepted(schema)
    assert repr(schema) == before


@pytest.mark.parametrize(
    ("keyword", "value", "reason"),
    [
        ("format", ["date"], "'format' must be a string, not a list"),
        ("format", {"date": 1}, "'format' must be a string, not an object"),
        ("format", 5, "'format' must be a string, not a number"),
        ("required", 5, "'required' must be a list of property names (strings), not a number"),
        ("required", True, "'required' must be a list of property names"),
        ("required", [{"x": 1}], "'required' must be a list of property names"),
        ("type", 1, "'type' must be a JSON type name or a non-empty list of them, not a number"),
        (
            "type",
            "text",
            "'type' must be a JSON type name or a non-empty list of them, not the string 'text'",
        ),
        ("type", ["string", {}], "'type' must be a JSON type name"),
        (
            "type",
            [],
            "'type' must be a JSON type name or a non-empty list of them, not an empty list",
        ),
        ("additionalProperties", [], "'additionalProperties' must be a schema"),
        ("additionalProperties", None, "'additionalProperties' must be a schema"),
        ("properties", 3, "'properties' must be an object of schemas, not a number"),
        ("properties", {"b": 5}, "'properties/b' must be a schema"),
        ("items", 5, "'items' must be a schema"),
        ("items", [], "'items' must be a non-empty list of schemas"),
        ("pattern", ["^a$"], "'pattern' must be a string"),
        ("minItems", "2", "'minItems' must be a non-negative integer"),
        ("minItems", True, "'minItems' must be a non-negative integer"),
        ("minItems", 1.5, "'minItems' must be a non-negative integer"),
        ("maxLength", -1, "'maxLength' must be a non-negative integer"),
        ("minimum", "0", "'minimum' must be a number"),
        ("multipleOf", 0, "'multipleOf' must be a number above 0"),
        ("enum", "a", "'enum' must be a list"),
        ("anyOf", [], "'anyOf' must be a non-empty list of schemas, not an empty list"),
        ("oneOf", [], "'oneOf' must be a non-empty list of schemas"),
        ("allOf", {}, "'allOf' must be a non-empty list of schemas, not an object"),
        ("anyOf", [STRING, 5], "'anyOf/1' must be a schema"),
        ("not", "x", "'not' must be a schema"),
        ("$ref", {"a": 1}, "'$ref' must be a string"),
        ("$defs", [STRING], "'$defs' must be an object of schemas"),
        ("description", 5, "'description' must be a string"),
        ("title", ["x"], "'title' must be a string"),
    ],
)
def test_a_keyword_value_of_the_wrong_kind_is_malformed_with_its_path(keyword, value, reason):
    at_root = {**obj({"a": STRING}, required=["a"]), keyword: value}
    nested = obj({"a/b": {"type": "string", keyword: value}})
    for schema, path in ((at_root, "#/"), (nested, "#/properties/a~1b/")):
        expected = reason.replace("'", f"'{path}", 1)
        with pytest.raises(Malformed) as raised:
            convert(schema)
        assert expected in str(raised.value)


@pytest.mark.parametrize("schema", ["not a schema", True, None, [STRING]])
def test_a_schema_that_is_not_an_object_is_malformed(schema):
    with pytest.raises(Malformed, match="the schema must be a JSON object"):
        convert(schema)


@pytest.mark.parametrize(
    "schema",
    [
        # Draft 4's boolean exclusive bounds, draft 7's list of items, whole floats as counts,
        # boolean subschemas, keywords JSON Schema does not know, with any value.
        obj({"a": {"type": "number", "minimum": 0, "exclusiveMinimum": True}}),
        obj({"a": {"type": "array", "items": [STRING, {"type": "integer"}]}}),
        obj({"a": {"type": "string", "maxLength": 2.0}}),
        obj({"a": True, "b": False}, additionalProperties=True),
        obj({"a": {"type": ["string", "null"], "nullable": 5, "x-order": [1], "examples": 3}}),
        obj({"a": {"enum": []}, "b": {"type": "string", "pattern": "(", "format": "phone"}}),
        obj({"a": {"not": True, "if": {}, "then": False, "else": STRING}}),
        obj({"a": {"type": "integer", "minimum": 10**400}}),
    ],
)
def test_valid_json_schema_is_never_malformed(schema):
    # Each is refused or sent by the usual rules: none is a 400 for its own sake.
    converted, problem = convert(schema)
    assert (converted is None) is (problem is not None)


# Values of every kind for the keywords `convert` reads, in every place a schema can be.
VALUES = [
    None, True, 0, 2, -1, 1.5, "", "x", "#", "#/$defs/d", "string", "date", "^a$", [], [1], ["a"],
    [{}], [[]], ["string", "null"], [STRING], {}, {"a": 1}, STRING, {"a": STRING},
]  # fmt: skip
KEYWORDS = sorted(KEPT | STRUCTURAL | DROPPED | {"oneOf", "minimum", "examples", "nullable"})


def _placed(keyword: str, value: Any) -> list[dict[str, Any]]:
    sub = {"type": "string", keyword: value}
    defs = {"$defs": {"d": STRING}}
    return [
        {**obj({"a": STRING}, required=["a"], **defs), keyword: value},
        obj({"a": sub}, **defs),
        obj({"a": {"type": "array", "items": sub}}, **defs),
        obj({"a": {"anyOf": [sub, {"type": "null"}]}}, **defs),
        obj({"a": {"allOf": [{**obj({"b": STRING}), keyword: value}]}}, **defs),
        obj({"a": {"$ref": "#/$defs/d"}}, **{"$defs": {"d": sub}}),
        obj({"a": {"$ref": "#/$defs/d", keyword: value}}, **defs),
        obj({"a": {keyword: value}}),
    ]


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_no_value_of_any_keyword_crashes_the_conversion(keyword):
    for value in VALUES:
        for schema in _placed(keyword, value):
            try:
                converted, problem = convert(schema)
            except Malformed as exc:
                assert str(exc).startswith("'#/")
                continue
            if converted is None:
                assert isinstance(problem, str)
            else:
                accepted(schema)


def _chain(length: int, last: dict[str, Any]) -> dict[str, Any]:
    """`root` → d0 → d1 → … → d<length>, which is `last`."""
    defs = {
        f"d{i}": obj({"n": {"$ref": f"#/$defs/d{i + 1}"}}, required=["n"]) for i in range(length)
    }
    return obj(
        {"root": {"$ref": "#/$defs/d0"}},
        required=["root"],
        **{"$defs": {**defs, f"d{length}": last}},
    )


def test_a_long_chain_of_references_is_walked_without_recursion():
    converted, problem = convert(_chain(3000, STRING))
    assert problem is None and len(converted["$defs"]) == 3001
    converted, problem = convert(_chain(3000, {"$ref": "#/$defs/d0"}))
    assert converted is None and "recursive" in str(problem)


def test_a_schema_too_deep_for_the_interpreter_is_unfit_not_an_error():
    deep: dict[str, Any] = STRING
    for _ in range(5000):
        deep = {"type": "array", "items": deep}
    assert convert(obj({"a": deep})) == (None, "the schema nests too deeply")
