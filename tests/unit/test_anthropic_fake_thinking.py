"""The fake Anthropic API refuses thinking requests as the extended thinking docs say it should,
so the end-to-end tests that pass through it show the gateway keeps those rules."""

from __future__ import annotations

import pytest

from tests.fakes import anthropic_thinking
from tests.fakes.anthropic_checks import check_body

BUDGET = {"type": "enabled", "budget_tokens": 2048}
HI = [{"role": "user", "content": "Hi"}]
BLOCKS = anthropic_thinking.blocks("Hi")
CALL = {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}
RESULT = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]}
TOOLS = [{"name": "f", "input_schema": {"type": "object"}}]


def body(**extra) -> dict:
    return {"model": "claude-sonnet-4-5", "max_tokens": 4096, "messages": HI, **extra}


def loop(first: list[dict]) -> list[dict]:
    """A tool loop whose assistant turn holds `first` before its tool call."""
    return [*HI, {"role": "assistant", "content": [*first, CALL]}, RESULT]


@pytest.mark.parametrize(
    ("request_body", "problem"),
    [
        (
            body(thinking={"type": "enabled", "budget_tokens": 1000}),
            "greater than or equal to 1024",
        ),
        (body(thinking={"type": "enabled", "budget_tokens": 4096}), "`max_tokens` must be greater"),
        (body(thinking={"type": "adaptive", "budget_tokens": 2048}), "Extra inputs"),
        (body(thinking={"type": "adaptive"}, output_config={"effort": "huge"}), "output_config"),
        (body(thinking=BUDGET, temperature=0.5), "`temperature` may only be set to 1"),
        (body(thinking=BUDGET, top_k=5), "`top_k` must be unset"),
        (body(thinking=BUDGET, top_p=0.9), "`top_p` must be greater than or equal to 0.95"),
        (body(thinking=BUDGET, tools=TOOLS, tool_choice={"type": "any"}), "forces tool use"),
        (
            body(thinking=BUDGET, messages=[*HI, {"role": "assistant", "content": "So"}]),
            "prefill",
        ),
        (body(thinking=BUDGET, tools=TOOLS, messages=loop([])), "Expected `thinking`"),
        (body(tools=TOOLS, messages=loop(BLOCKS)), "When thinking is disabled"),
        (
            body(thinking=BUDGET, tools=TOOLS, messages=loop([{**BLOCKS[0], "thinking": "x"}])),
            "Invalid `signature`",
        ),
        (
            body(thinking=BUDGET, tools=TOOLS, messages=loop([{**BLOCKS[1], "data": "a.b"}])),
            "Invalid `signature`",
        ),
        (
            body(
                thinking=BUDGET,
                tools=TOOLS,
                messages=loop([{"type": "text", "text": "a"}, *BLOCKS]),
            ),
            "must open an assistant message",
        ),
    ],
)
def test_the_fake_refuses_what_anthropic_documents(request_body, problem):
    assert problem in (check_body(request_body) or "")


@pytest.mark.parametrize(
    "request_body",
    [
        body(thinking=BUDGET, temperature=1, top_p=0.95),
        body(thinking={"type": "adaptive"}, output_config={"effort": "xhigh"}),
        body(thinking=BUDGET, tools=TOOLS, messages=loop(BLOCKS)),
        body(
            thinking=BUDGET, tools=TOOLS, messages=[*loop([]), {**HI[0], "role": "assistant"}, *HI]
        ),
        body(tools=TOOLS, messages=loop([])),
    ],
)
def test_the_fake_takes_what_anthropic_allows(request_body):
    assert check_body(request_body) is None
