"""Request checks of the fake Anthropic API, with messages in the style of the real API's 400s."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes import anthropic_caching, anthropic_structured, anthropic_thinking

TOP_LEVEL = {
    "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature",
    "top_p", "top_k", "tools", "tool_choice", "metadata", "thinking", "service_tier",
    "output_config",
}  # fmt: skip
BLOCK_TYPES = {
    "text", "image", "tool_use", "tool_result", "document", "thinking", "redacted_thinking",
}  # fmt: skip
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TOOL_ID = re.compile(r"[a-zA-Z0-9_-]+")
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


def check_body(body: Any) -> str | None:
    """The first problem with a Messages API request body, or None when it is valid."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object."
    for name in body:
        if name not in TOP_LEVEL:
            return f"{name}: Extra inputs are not permitted"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        return "max_tokens: Field required"
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and not (isinstance(value, int | float) and 0 <= value <= 1):
            return f"{name}: Input should be less than or equal to 1"
    return (
        _check_system(body.get("system"))
        or _check_tools(body)
        or _check_stops(body.get("stop_sequences"))
        or _check_metadata(body.get("metadata"))
        or _check_messages(body.get("messages"))
        or anthropic_thinking.check(body)
        or anthropic_structured.check(body)
        or anthropic_caching.check(body)
    )


def _check_system(system: Any) -> str | None:
    if system is None or (isinstance(system, str)):
        return None
    if isinstance(system, list) and all(
        isinstance(b, dict) and b.get("type") == "text" and b.get("text") for b in system
    ):
        return None
    return "system: Input should be a valid string or a list of text blocks"


def _check_stops(stops: Any) -> str | None:
    if stops is None or (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        return None
    return "stop_sequences: Input should be a valid list of strings"


def _check_metadata(metadata: Any) -> str | None:
    if metadata is None or (isinstance(metadata, dict) and set(metadata) <= {"user_id"}):
        return None
    return "metadata: Extra inputs are not permitted"


def _check_tools(body: dict[str, Any]) -> str | None:
    names = []
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool.get("name"), str) or not TOOL_NAME.match(tool["name"]):
            return f"tools.{i}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"tools.{i}.custom.input_schema.type: Input should be 'object'"
        if set(tool) - {"name", "description", "input_schema", "type", "cache_control"}:
            return f"tools.{i}.custom: Extra inputs are not permitted"
        names.append(tool["name"])
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if choice.get("type") not in ("auto", "any", "tool", "none"):
        return "tool_choice: Input tag does not match any of the expected tags"
    if choice["type"] == "tool" and choice.get("name") not in names:
        return f"tool_choice.tool.name: Tool '{choice.get('name')}' not found in provided tools"
    if choice["type"] == "none" and "disable_parallel_tool_use" in choice:
        return "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted"
    return None


def _check_messages(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    previous_role = None
    pending: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if role == previous_role:
            return (
                'messages: roles must alternate between "user" and "assistant", '
                f'but found multiple "{role}" roles in a row'
            )
        previous_role = role
        blocks = _blocks(message.get("content"))
        if blocks is None:
            return f"messages.{i}: all messages must have non-empty content"
        problem = _check_blocks(i, role, blocks, pending)
        if problem:
            return problem
        pending = {b["id"] for b in blocks if b["type"] == "tool_use"}
    last = messages[-1]
    if last["role"] == "assistant" and isinstance(last["content"], str):
        if last["content"] != last["content"].rstrip():
            return "messages: final assistant content cannot end with trailing whitespace"
    return None


def _blocks(content: Any) -> list[dict[str, Any]] | None:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else None
    if not isinstance(content, list) or not content:
        return None
    return content


def _check_blocks(i: int, role: str, blocks: list[dict[str, Any]], pending: set[str]) -> str | None:
    seen_other = False
    answered = set()
    for j, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            return f"messages.{i}.content.{j}.type: Input tag {kind!r} does not match"
        if kind == "text" and not block.get("text"):
            return "messages: text content blocks must be non-empty"
        if kind == "tool_result":
            if role != "user" or seen_other:
                return f"messages.{i}: tool_result blocks must come first in a user message"
            if block.get("tool_use_id") not in pending:
                return (
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                    "blocks. Each `tool_result` block must have a corresponding `tool_use` block "
                    "in the previous message."
                )
            answered.add(block["tool_use_id"])
        else:
            seen_other = True
        if kind == "tool_use" and (role != "assistant" or not isinstance(block.get("input"), dict)):
            return f"messages.{i}.content.{j}: tool_use blocks need role assistant and an input"
        if kind == "image" and block.get("source", {}).get("type") not in ("base64", "url"):
            return f"messages.{i}.content.{j}.image.source: Input tag does not match"
        source = block.get("source", {}) if kind == "image" else {}
        if source.get("type") == "base64" and source.get("media_type") not in IMAGE_TYPES:
            return (
                f"messages.{i}.content.{j}.image.source.base64.media_type: Input should be "
                "'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"
            )
        call_id = block.get("id") if kind == "tool_use" else block.get("tool_use_id")
        if kind in ("tool_use", "tool_result") and not TOOL_ID.fullmatch(str(call_id)):
            return (
                f"messages.{i}.content.{j}.{kind}.id: String should match pattern "
                "'^[a-zA-Z0-9_-]+$'"
            )
    if pending and pending - answered:
        missing = ", ".join(sorted(pending - answered))
        return (
            f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately "
            f"after: {missing}. Each `tool_use` block must have a corresponding `tool_result` "
            "block in the next message."
        )
    return None
