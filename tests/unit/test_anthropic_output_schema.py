"""Anthropic backend: client JSON Schemas rewritten into the subset of Anthropic's structured
outputs, each result checked by the fake Anthropic API's documented rules."""

from __future__ import annotations

from typing import Any

import pytest

from app.backends.anthropic.output_schema import DROPPED, KEPT, STRUCTURAL, convert
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
        ("not a schema", "not an object"),
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
        ("format", ["date"], "`format` is not a string"),
        ("format", {"date": 1}, "`format` is not a string"),
        ("format", 5, "`format` is not a string"),
        ("required", 5, "`required` is not a list of property names"),
        ("required", True, "`required` is not a list of property names"),
        ("required", [{"x": 1}], "`required` is not a list of property names"),
        ("type", 1, "`type` is not a JSON type"),
        ("type", "text", "`type` is not a JSON type"),
        ("type", ["string", {}], "`type` is not a JSON type"),
        ("type", [], "`type` is not a JSON type"),
        ("additionalProperties", [], "`additionalProperties` is not a boolean or a schema"),
        ("additionalProperties", None, "`additionalProperties` is not a boolean or a schema"),
        ("pattern", ["^a$"], "`pattern` is not a string"),
        ("minItems", "2", "`minItems` is not a non-negative integer"),
        ("minItems", True, "`minItems` is not a non-negative integer"),
        ("minItems", 1.5, "`minItems` is not a non-negative integer"),
        ("anyOf", [], "`anyOf` must be one non-empty list"),
        ("allOf", [], "`allOf` must be a non-empty list"),
        ("$ref", {"a": 1}, "`$ref` is not a string"),
    ],
)
def test_a_keyword_value_of_the_wrong_kind_makes_the_schema_unfit(keyword, value, reason):
    for schema in (
        {**obj({"a": STRING}, required=["a"]), keyword: value},
        obj({"a": {"type": "string", keyword: value}}),
    ):
        converted, problem = convert(schema)
        assert converted is None and reason in str(problem)


def test_a_description_or_title_that_is_not_a_string_is_left_out():
    converted = accepted(obj({"a": {"type": "integer", "title": 5, "description": ["x"]}}))
    assert converted["properties"]["a"] == {"type": "integer"}


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
            converted, problem = convert(schema)
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
