"""The fake Anthropic API refuses structured-output and prompt-caching requests as Anthropic's docs
say it should, and counts cache reads and writes, so the tests that pass through it show the
gateway keeps those rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes import anthropic_caching, anthropic_thinking
from tests.fakes.anthropic_checks import check_body

HI = [{"role": "user", "content": "Hi"}]
EPHEMERAL = {"type": "ephemeral"}
CLOSED = {
    "type": "object",
    "properties": {"a": {"type": "string"}},
    "required": ["a"],
    "additionalProperties": False,
}


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": HI, **extra}


def formatted(schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return body(output_config={"format": {"type": "json_schema", "schema": schema}}, **extra)


def prop(**schema: Any) -> dict[str, Any]:
    """CLOSED with its property `a` of `schema`."""
    return {**CLOSED, "properties": {"a": schema}}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


@pytest.mark.parametrize(
    ("request_body", "problem"),
    [
        (body(output_config={"format": {"type": "json_schema"}}), "output_config.format"),
        (body(output_config={"format": {"type": "json", "schema": {}}}), "json_schema"),
        (body(output_config={"mode": "x"}), "Extra inputs"),
        (formatted(CLOSED, model="claude-3-haiku-20240307"), "does not support output format"),
        (formatted(CLOSED, model="claude-opus-4-1"), "does not support output format"),
        (formatted(CLOSED, messages=[*HI, {"role": "assistant", "content": "{"}]), "Prefill"),
        (formatted({**CLOSED, "additionalProperties": True}), "'additionalProperties'"),
        (formatted({"type": "object", "properties": {}}), "'additionalProperties'"),
        (formatted(prop(type="integer", minimum=1)), "'minimum'"),
        (formatted(prop(type="string", maxLength=3)), "'maxLength'"),
        (formatted(prop(type="array", items={"type": "string"}, minItems=2)), "minItems"),
        (formatted(prop(type="string", format="phone")), "format 'phone'"),
        (formatted(prop(type="string", pattern=r"(?!x)y")), "Regex pattern"),
        (formatted(prop(enum=[["x"]])), "Enum values"),
        (formatted(prop(**{"$ref": "https://example.com/s.json"})), "External"),
        (formatted(prop(**{"$ref": "#"})), "Recursive"),
        (
            formatted({**prop(allOf=[{"$ref": "#/$defs/B"}]), "$defs": {"B": CLOSED}}),
            "'allOf' with '$ref'",
        ),
        (
            formatted({**CLOSED, "properties": {f"p{i}": {"type": "string"} for i in range(25)}}),
            "25 optional parameters",
        ),
        (
            formatted(
                {
                    **CLOSED,
                    "properties": {f"p{i}": {"type": ["string", "null"]} for i in range(17)},
                    "required": [f"p{i}" for i in range(17)],
                }
            ),
            "17 union-typed",
        ),
        (
            body(
                messages=[
                    {
                        "role": "user",
                        "content": [text(str(i), cache_control=EPHEMERAL) for i in range(5)],
                    }
                ]
            ),
            "A maximum of 4 blocks with cache_control",
        ),
        (body(system=[text("S", cache_control={"type": "persistent"})]), "'ephemeral'"),
        (body(system=[text("S", cache_control={"type": "ephemeral", "ttl": "30m"})]), "ttl"),
        (
            body(
                system=[text("S", cache_control=EPHEMERAL)],
                messages=[
                    {
                        "role": "user",
                        "content": [text("Hi", cache_control={**EPHEMERAL, "ttl": "1h"})],
                    }
                ],
            ),
            "must not come after",
        ),
        (
            body(
                thinking={"type": "enabled", "budget_tokens": 1024},
                max_tokens=4096,
                tools=[{"name": "f", "input_schema": {"type": "object"}}],
                messages=[
                    *HI,
                    {
                        "role": "assistant",
                        "content": [
                            {**anthropic_thinking.blocks("Hi")[0], "cache_control": EPHEMERAL},
                            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
                        ],
                    },
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}],
                    },
                ],
            ),
            "thinking blocks cannot be cached",
        ),
    ],
)
def test_the_fake_refuses_what_anthropic_refuses(request_body, problem):
    found = check_body(request_body)
    assert found is not None and problem in found, found


def test_the_fake_takes_the_documented_forms():
    assert check_body(formatted(CLOSED)) is None
    marked = text("Hi", cache_control={**EPHEMERAL, "ttl": "1h"})
    assert (
        check_body(body(system=[marked], messages=[{"role": "user", "content": [text("x")]}]))
        is None
    )
    config = {"effort": "low", "format": {"type": "json_schema", "schema": CLOSED}}
    assert check_body(body(output_config=config, thinking={"type": "adaptive"})) is None


def test_cache_writes_need_the_minimum_and_later_turns_read_them(monkeypatch):
    monkeypatch.setattr(anthropic_caching, "_entries", {})
    short = body(system=[text("Be brief.", cache_control=EPHEMERAL)])
    assert anthropic_caching.usage(short) == {
        "input_tokens": anthropic_caching.usage(short)["input_tokens"],
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    long_text = "word " * 1100
    first = body(
        system=[text(long_text, cache_control=EPHEMERAL)],
        messages=[{"role": "user", "content": [text("Hi", cache_control=EPHEMERAL)]}],
    )
    written = anthropic_caching.usage(first)
    assert written["cache_creation_input_tokens"] > 1100 and written["cache_read_input_tokens"] == 0
    second = body(
        system=[text(long_text, cache_control=EPHEMERAL)],
        messages=[
            {"role": "user", "content": [text("Hi")]},
            {"role": "assistant", "content": [text("Hello")]},
            {"role": "user", "content": [text("More", cache_control=EPHEMERAL)]},
        ],
    )
    read = anthropic_caching.usage(second)
    assert read["cache_read_input_tokens"] == written["cache_creation_input_tokens"]
    assert read["cache_creation_input_tokens"] > 0 and read["input_tokens"] == 0
