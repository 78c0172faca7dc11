"""Extended thinking in the fake Anthropic API: the documented request rules, signed blocks.

Rules checked, as Anthropic's extended thinking docs state them: `budget_tokens` at least 1024
and below `max_tokens` (adaptive thinking takes no budget, `output_config.effort` a known
level); no temperature but 1, no `top_k`, `top_p` only from 0.95 to 1; no forced tool use; no
prefill; with thinking on, the assistant turn that tool results continue starts with its
thinking blocks, sent back unmodified (their signatures are checked), and with thinking off it
holds none. Answers to a thinking request start with a `thinking` and a `redacted_thinking`
block.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

THINKING_TYPES = ("thinking", "redacted_thinking")
EFFORTS = ("low", "medium", "high", "xhigh", "max")
MIN_BUDGET = 1024
_KEY = "fake-claude-thinking-key"
_DOCS = "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/"
# Tokens a redacted block stands for in the usage.
REDACTED_TOKENS = 5


def thinking_on(body: dict[str, Any]) -> bool:
    """True when the request asks for thinking (manual or adaptive)."""
    return (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")


def _mac(text: str) -> str:
    return hashlib.sha256(f"{_KEY}:{text}".encode()).hexdigest()


def blocks(text: str) -> list[dict[str, Any]]:
    """The thinking blocks the fake answers a thinking request with, before its answer."""
    thought = f"The user wrote {text!r}; a short, friendly answer fits."
    nonce = _mac(thought)[:16]
    return [
        {"type": "thinking", "thinking": thought, "signature": "sig_" + _mac(thought)},
        {"type": "redacted_thinking", "data": f"{nonce}.{_mac(nonce)}"},
    ]


def tokens(content: list[dict[str, Any]]) -> int:
    """Thinking tokens of an answer's blocks (words of the thinking text)."""
    return sum(
        len(re.findall(r"\S+", block["thinking"]))
        if block["type"] == "thinking"
        else REDACTED_TOKENS
        for block in content
        if block["type"] in THINKING_TYPES
    )


def _genuine(block: dict[str, Any]) -> bool:
    if block["type"] == "thinking":
        return block.get("signature") == "sig_" + _mac(str(block.get("thinking")))
    nonce, _, mac = str(block.get("data")).partition(".")
    return mac == _mac(nonce)


def check(body: dict[str, Any]) -> str | None:
    """The first broken thinking rule of a (structurally valid) request, or None."""
    problem = _check_blocks(body["messages"])
    if problem or not thinking_on(body):
        return problem or _check_thinking_off(body["messages"])
    return _check_config(body) or _check_sampling(body) or _check_turn(body["messages"])


def _check_config(body: dict[str, Any]) -> str | None:
    thinking = body["thinking"]
    if thinking["type"] == "adaptive":
        if "budget_tokens" in thinking:
            return "thinking.adaptive.budget_tokens: Extra inputs are not permitted"
        effort = (body.get("output_config") or {}).get("effort", "high")
        if effort not in EFFORTS:
            return "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'"
        return None
    budget = thinking.get("budget_tokens")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < MIN_BUDGET:
        return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
    if budget >= body["max_tokens"]:
        return (
            "`max_tokens` must be greater than `thinking.budget_tokens`. "
            f"{_DOCS}extended-thinking#max-tokens-and-context-window-size"
        )
    return None


def _check_sampling(body: dict[str, Any]) -> str | None:
    if body.get("temperature", 1) != 1:
        return f"`temperature` may only be set to 1 when thinking is enabled. {_DOCS}"
    if "top_k" in body:
        return f"`top_k` must be unset when thinking is enabled. {_DOCS}"
    if not 0.95 <= body.get("top_p", 1) <= 1:
        return f"`top_p` must be greater than or equal to 0.95 when thinking is enabled. {_DOCS}"
    if (body.get("tool_choice") or {}).get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    if body["messages"][-1]["role"] == "assistant":
        return "Assistant message prefill is not supported when thinking is enabled."
    return None


def _turn_in_progress(messages: list[dict[str, Any]]) -> int | None:
    """The first assistant message of the turn that tool results continue, if any."""
    start = None
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message["role"] == "assistant":
            start = index
        elif not any(block["type"] == "tool_result" for block in _content(message)):
            break
    return start


def _check_turn(messages: list[dict[str, Any]]) -> str | None:
    start = _turn_in_progress(messages)
    if start is None or _content(messages[start])[0]["type"] in THINKING_TYPES:
        return None
    found = _content(messages[start])[0]["type"]
    return (
        f"messages.{start}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
        f"`{found}`. When `thinking` is enabled, a final `assistant` message must start with a "
        "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We "
        "recommend you include thinking blocks from previous turns. To avoid this requirement, "
        f"disable `thinking`. {_DOCS}extended-thinking"
    )


def _check_thinking_off(messages: list[dict[str, Any]]) -> str | None:
    start = _turn_in_progress(messages)
    for index in range(start if start is not None else len(messages), len(messages)):
        if any(block["type"] in THINKING_TYPES for block in _content(messages[index])):
            return (
                f"messages.{index}: When thinking is disabled, the final assistant turn cannot "
                "contain `thinking` blocks. To use thinking blocks, enable `thinking`."
            )
    return None


def _check_blocks(messages: list[dict[str, Any]]) -> str | None:
    """Thinking blocks: the assistant's only, first in their message, as generated."""
    for i, message in enumerate(messages):
        seen_other = False
        for j, block in enumerate(_content(message)):
            if block["type"] not in THINKING_TYPES:
                seen_other = True
                continue
            if message["role"] != "assistant" or seen_other:
                return f"messages.{i}.content.{j}: thinking blocks must open an assistant message"
            if not _genuine(block):
                return f"messages.{i}.content.{j}: Invalid `signature` in `{block['type']}` block"
    return None


def _content(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    return [{"type": "text", "text": content}] if isinstance(content, str) else content
