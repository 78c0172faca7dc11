"""The mock's schema instances: valid for every schema, filled from the text, stable per seed."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

import jsonschema
import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from app.backends.mock.extract import Literals
from app.backends.mock.instances import InstanceBuilder

Validator = jsonschema.Draft202012Validator


def build(schema, text="", seed=0):
    """An instance of `schema` filled from `text`, checked against the schema (formats too)."""
    value = InstanceBuilder(schema, Literals(text), random.Random(seed)).build()
    Validator(schema, format_checker=Validator.FORMAT_CHECKER).validate(value)
    return value


class Unit(StrEnum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Address(BaseModel):
    street: str
    city: str
    zip_code: Annotated[str, Field(pattern=r"^\d{5}$")]


class Person(BaseModel):
    name: str
    age: Annotated[int, Field(ge=0, le=130)]
    email: Annotated[str, Field(json_schema_extra={"format": "email"})]
    address: Address
    previous: list[Address] = []
    nickname: str | None = None
    unit: Unit = Unit.celsius


class Order(BaseModel):
    id: uuid.UUID
    placed: datetime
    delivery: date
    quantity: Annotated[int, Field(gt=0, multiple_of=5)]
    price: Annotated[float, Field(gt=0, lt=1000)]
    tags: Annotated[list[str], Field(min_length=2, max_length=3)]
    code: Annotated[str, Field(min_length=8, max_length=8)]
    status: Literal["open", "closed"]
    buyer: Person | None = None


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Owner(BaseModel):
    pet: Cat | Dog = Field(discriminator="kind")


class Node(BaseModel):
    value: int
    children: list[Node] = []


@pytest.mark.parametrize("model", [Person, Order, Owner, Node])
def test_pydantic_schemas_give_valid_instances(model):
    schema = model.model_json_schema()
    for seed in range(5):
        model.model_validate(build(schema, seed=seed))


def test_pydantic_fields_are_filled_from_the_text_in_order():
    text = (
        "Add 'Ann Lee', 34, 'ann@example.com', living at '1 Main St', 'Oslo', '12345' in fahrenheit"
    )
    person = build(Person.model_json_schema(), text)
    assert person["name"] == "Ann Lee"
    assert person["age"] == 34
    assert person["email"] == "ann@example.com"
    assert person["address"] == {"street": "1 Main St", "city": "Oslo", "zip_code": "12345"}
    assert person["unit"] == "fahrenheit"
    assert person["nickname"] is None  # optional, nothing left in the text: its default


def test_literals_that_do_not_fit_are_left_for_later_fields():
    schema = {
        "type": "object",
        "properties": {
            "small": {"type": "integer", "maximum": 10},
            "big": {"type": "integer", "minimum": 100},
            "ratio": {"type": "number"},
        },
        "required": ["small", "big", "ratio"],
    }
    assert build(schema, "values 500, 0.25 and 3") == {"small": 3, "big": 500, "ratio": 0.25}


def test_discriminated_union_follows_the_text():
    schema = Owner.model_json_schema()
    assert build(schema, "my dog is a good one")["pet"]["kind"] == "dog"
    assert build(schema, "my cat has 9 lives")["pet"] == {"kind": "cat", "lives": 9}


def test_recursive_schema_ends():
    tree = build(Node.model_json_schema(), "root 1 then 2 and 3")
    assert tree["value"] == 1


def test_lists_of_scalars_take_every_fitting_literal():
    schema = {
        "type": "object",
        "properties": {
            "numbers": {"type": "array", "items": {"type": "number"}, "maxItems": 3},
            "names": {"type": "array", "items": {"type": "string"}},
            "units": {"type": "array", "items": {"enum": ["kg", "lb", "oz"]}, "uniqueItems": True},
        },
        "required": ["numbers", "names", "units"],
        "additionalProperties": False,
    }
    value = build(schema, 'add 1, 2, 3 and 4 for "a" and "b" in lb and oz')
    assert value == {"numbers": [1, 2, 3], "names": ["a", "b"], "units": ["lb", "oz"]}


def test_strict_mode_schema_with_nullable_type_lists():
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "limit": {"type": ["integer", "null"]},
            "sort": {"type": ["string", "null"], "enum": ["asc", "desc", None]},
            "filters": {
                "type": "object",
                "properties": {"open": {"type": "boolean"}},
                "required": ["open"],
                "additionalProperties": False,
            },
        },
        "required": ["city", "limit", "sort", "filters"],
        "additionalProperties": False,
    }
    value = build(schema, "find 'Rome' top 5 sorted desc, open true")
    assert value == {"city": "Rome", "limit": 5, "sort": "desc", "filters": {"open": True}}


def test_defaults_and_examples_when_the_text_has_nothing():
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "integer", "default": 7},
            "b": {"type": "string", "examples": ["sample"]},
            "c": {"const": "fixed"},
            "d": {"type": "string", "enum": ["x", "y"], "default": "y"},
        },
        "required": ["a", "b", "c", "d"],
    }
    assert build(schema, "nothing here") == {"a": 7, "b": "sample", "c": "fixed", "d": "y"}


@pytest.mark.parametrize(
    "fmt", ["date", "date-time", "email", "uri", "uuid", "ipv4", "ipv6", "hostname", "time"]
)
def test_string_formats(fmt):
    for seed in range(3):
        build({"type": "string", "format": fmt}, seed=seed)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": r"^[A-Z]{3}-\d{4}$"},
        {"type": "string", "pattern": r"^\+?[1-9]\d{6,14}$"},
        {"type": "string", "minLength": 40},
        {"type": "string", "maxLength": 3},
        {"type": "integer", "minimum": -5, "exclusiveMaximum": -3},
        {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
        {"type": "number", "multipleOf": 0.01, "minimum": 1, "maximum": 2},
        {"type": "array", "items": {"type": "integer"}, "minItems": 4, "uniqueItems": True},
        {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
        {"type": "object", "minProperties": 2, "additionalProperties": {"type": "integer"}},
        {"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]}]},
        {"oneOf": [{"type": "string", "maxLength": 2}, {"type": "integer"}]},
        {"$ref": "#/definitions/x", "definitions": {"x": {"type": "boolean"}}},
    ],
)
def test_schema_keywords(schema):
    for seed in range(3):
        build(schema, seed=seed)


@pytest.mark.parametrize(
    "schema",
    [
        {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"},
        {"$ref": "#"},
        {"type": "string", "minLength": 10**12},
        {"type": "array", "minItems": 10**9, "items": {"type": "integer"}},
        {"type": "string", "pattern": "^a{100000000}$"},
        {"type": "integer", "minimum": 10**400},
        {"type": "number", "maximum": float("nan"), "multipleOf": float("inf")},
        {"type": "object", "properties": {"x": {"$ref": "#/missing"}}, "required": ["x"]},
    ],
)
def test_hostile_schemas_end_without_errors(schema):
    literals = Literals("numbers 1e999 and " + "9" * 400)
    InstanceBuilder(schema, literals, random.Random(0)).build()


def test_langchain_tool_parameters_validate():
    class GetWeather(BaseModel):
        """Get the weather for a place."""

        location: Address
        days: Annotated[int, Field(ge=1, le=14)]
        unit: Unit = Unit.celsius

    parameters = convert_to_openai_tool(GetWeather)["function"]["parameters"]
    value = build(parameters, "weather at '1 Main St', 'Paris', '75001' for 3 days")
    assert value["location"]["city"] == "Paris" and value["days"] == 3


def test_same_seed_same_instance_and_seeds_vary():
    schema = Order.model_json_schema()
    assert build(schema, seed=1) == build(schema, seed=1)
    assert len({str(build(schema, seed=seed)) for seed in range(4)}) > 1


LEAVES = [
    {"type": "string"},
    {"type": "integer", "minimum": 3, "maximum": 9},
    {"type": "number", "exclusiveMaximum": 0},
    {"type": "boolean"},
    {"type": "null"},
    {"enum": ["red", "green", 3]},
    {"const": {"k": 1}},
    {"type": "string", "format": "date"},
    {"type": "string", "pattern": "^[a-f]{2,4}$"},
    {"type": ["string", "null"], "maxLength": 5},
    {"$ref": "#/$defs/leaf"},
    {"type": "integer", "multipleOf": 3},
    {"type": "number", "minimum": 0.5, "maximum": 0.6},
    {"type": "string", "minLength": 3, "maxLength": 4},
    {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": True, "minItems": 2},
    {"type": "string", "format": "email"},
    {},
]


def random_schema(rng: random.Random, depth: int = 0) -> dict:
    """A schema made of the leaves above inside objects, arrays, anyOf and allOf."""
    shape = rng.choice(["leaf"] * (depth + 1) + ["object", "array", "anyOf", "allOf"])
    if shape == "leaf" or depth > 3:
        return rng.choice(LEAVES)
    if shape == "object":
        names = rng.sample("abcd", rng.randint(0, 3))
        return {
            "type": "object",
            "properties": {name: random_schema(rng, depth + 1) for name in names},
            "required": [name for name in names if rng.random() < 0.6],
            "additionalProperties": rng.random() < 0.5,
        }
    if shape == "array":
        schema = {"type": "array", "items": random_schema(rng, depth + 1)}
        schema.update({"minItems": rng.randint(0, 3)} if rng.random() < 0.5 else {})
        return {**schema, "maxItems": rng.randint(3, 5)} if rng.random() < 0.5 else schema
    branches = [random_schema(rng, depth + 1) for _ in range(rng.randint(1, 3))]
    return {"anyOf": branches} if shape == "anyOf" else {"allOf": branches[:1]}


@pytest.mark.parametrize("seed", range(300))
def test_random_schemas_give_valid_instances(seed):
    rng = random.Random(seed)
    schema = {"$defs": {"leaf": {"type": "integer", "minimum": 1}}, **random_schema(rng)}
    text = rng.choice(["", "5 and 'abc' then 2024-01-02, true, green 7", "'zz' 4 -2.5 red"])
    build(schema, text, seed)
