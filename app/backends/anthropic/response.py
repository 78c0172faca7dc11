"""Anthropic Message → OpenAI `chat.completion`, and the mappings streams share with it."""

from __future__ import annotations

from typing import Any

from app.backends import shaping
from app.backends.translate import dumps_arguments
from app.errors import UpstreamError

# Anthropic stop_reason → OpenAI finish_reason; anything unknown ends as "stop".
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None, has_tool_calls: bool) -> str:
    """The OpenAI finish_reason; `tool_calls` only when the client really gets tool calls."""
    reason = FINISH_REASONS.get(stop_reason or "", "stop")
    if reason == "tool_calls" and not has_tool_calls:
        # The only tool used carried a json_schema answer: for the client it is plain content.
        return "stop"
    return reason


def prompt_tokens(usage: dict[str, Any]) -> tuple[int, int]:
    """(all input tokens, of which read from the prompt cache) of an Anthropic usage object."""
    cached = int(usage.get("cache_read_input_tokens") or 0)
    total = (
        int(usage.get("input_tokens") or 0)
        + int(usage.get("cache_creation_input_tokens") or 0)
        + cached
    )
    return total, cached


def usage_object(prompt: int, cached: int, completion: int) -> dict[str, Any]:
    """OpenAI CompletionUsage; `prompt_tokens_details.cached_tokens` when the cache was read."""
    result: dict[str, Any] = shaping.usage(prompt, completion)
    if cached:
        result["prompt_tokens_details"] = {"cached_tokens": cached}
    return result


def chat_completion(
    message: dict[str, Any], model: str, answer_tool: str | None = None
) -> dict[str, Any]:
    """The `chat.completion` for an Anthropic Message, named for the model the client asked for."""
    blocks = message.get("content")
    if not isinstance(blocks, list):
        raise UpstreamError("The upstream answer has no content.", code="upstream_bad_response")
    texts: list[str] = []
    answer: str | None = None
    tool_calls = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use" and block.get("name") == answer_tool:
            answer = dumps_arguments(block.get("input"))
        elif kind == "tool_use":
            tool_calls.append(
                shaping.tool_call(
                    block.get("id") or shaping.new_id("call_"),
                    block.get("name") or "",
                    dumps_arguments(block.get("input")),
                )
            )
        # thinking, redacted_thinking and server tool blocks have no OpenAI counterpart.
    if answer is not None:
        content: str | None = answer
    else:
        content = "".join(texts) if texts or not tool_calls else None
    reason = finish_reason(message.get("stop_reason"), bool(tool_calls))
    usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
    prompt, cached = prompt_tokens(usage)
    return shaping.chat_completion(
        model,
        [shaping.choice(0, shaping.message(content, tool_calls), reason)],
        usage_object(prompt, cached, int(usage.get("output_tokens") or 0)),
        completion_id=completion_id(message.get("id")),
    )


def completion_id(message_id: Any) -> str:
    """`chatcmpl-<Anthropic message id>`, so a client's id leads back to the upstream log."""
    return (
        f"chatcmpl-{message_id}"
        if isinstance(message_id, str) and message_id
        else (shaping.new_id("chatcmpl-"))
    )
