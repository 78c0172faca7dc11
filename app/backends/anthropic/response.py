"""Anthropic Message → OpenAI `chat.completion`, and the mappings streams share with it."""

from __future__ import annotations

import math
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


def malformed() -> UpstreamError:
    """The error for an answer or stream event that breaks the Messages API's shape."""
    return UpstreamError("Upstream returned a malformed answer.", code="upstream_bad_response")


def finish_reason(stop_reason: Any, has_tool_calls: bool, legacy: bool = False) -> str:
    """The OpenAI finish_reason; `tool_calls` only when the client really gets tool calls,
    `function_call` instead in answer to the deprecated `functions` (`legacy`)."""
    reason = FINISH_REASONS.get(stop_reason if isinstance(stop_reason, str) else "", "stop")
    if reason == "tool_calls" and not has_tool_calls:
        # The only tool used carried a json_schema answer: for the client it is plain content.
        return "stop"
    return called(reason, legacy)


def called(reason: str, legacy: bool) -> str:
    """`reason`, with `tool_calls` as `function_call` for a request with legacy `functions`."""
    return "function_call" if legacy and reason == "tool_calls" else reason


def is_count(value: Any) -> bool:
    """True for a token count that can be used: an integer, or a finite float (not a bool)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def token_count(usage: dict[str, Any], name: str) -> int:
    """One count of an Anthropic usage object; 0 when missing or not a number."""
    value = usage.get(name)
    # A bad count should not cost the client a good answer.
    return int(value) if is_count(value) else 0


def prompt_tokens(usage: dict[str, Any]) -> tuple[int, int]:
    """(all input tokens, of which read from the prompt cache) of an Anthropic usage object."""
    cached = token_count(usage, "cache_read_input_tokens")
    total = (
        token_count(usage, "input_tokens")
        + token_count(usage, "cache_creation_input_tokens")
        + cached
    )
    return total, cached


def tool_use_fields(block: dict[str, Any]) -> tuple[str | None, str]:
    """(id, name) of a `tool_use` block; an id or name of the wrong type is malformed."""
    call_id, name = block.get("id"), block.get("name")
    if not (call_id is None or isinstance(call_id, str)) or not isinstance(name, str) or not name:
        raise malformed()
    return call_id, name


def usage_object(usage: dict[str, Any]) -> dict[str, Any]:
    """OpenAI CompletionUsage for an Anthropic usage object: `prompt_tokens_details.cached_tokens`
    when the cache was read, `completion_tokens_details.reasoning_tokens` when Anthropic reports
    thinking tokens (`output_tokens` already counts them)."""
    prompt, cached = prompt_tokens(usage)
    completion = token_count(usage, "output_tokens")
    result: dict[str, Any] = shaping.usage(prompt, completion)
    if cached:
        result["prompt_tokens_details"] = {"cached_tokens": cached}
    details = usage.get("output_tokens_details")
    thinking = token_count(details, "thinking_tokens") if isinstance(details, dict) else 0
    if thinking:
        result["completion_tokens_details"] = {"reasoning_tokens": min(thinking, completion)}
    return result


def chat_completion(
    message: dict[str, Any], model: str, answer_tool: str | None = None, legacy: bool = False
) -> dict[str, Any]:
    """The `chat.completion` for an Anthropic Message, named for the model the client asked for;
    with `legacy` its first tool call is the message's `function_call`."""
    blocks = message.get("content")
    if not isinstance(blocks, list):
        raise malformed()
    texts: list[str] = []
    answer: str | None = None
    tool_calls = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str | None):
                raise malformed()
            texts.append(text or "")
        elif kind == "tool_use":
            call_id, name = tool_use_fields(block)
            arguments = _input_json(block.get("input"))
            if name == answer_tool:
                answer = arguments
            else:
                tool_calls.append(
                    shaping.tool_call(call_id or shaping.new_id("call_"), name, arguments)
                )
        # thinking, redacted_thinking and server tool blocks have no OpenAI counterpart.
    if answer is not None:
        content: str | None = answer
    else:
        content = "".join(texts) if texts or not tool_calls else None
    reason = finish_reason(message.get("stop_reason"), bool(tool_calls), legacy)
    usage = message.get("usage") if isinstance(message.get("usage"), dict) else {}
    return shaping.chat_completion(
        model,
        [shaping.choice(0, shaping.calls_message(content, tool_calls, legacy), reason)],
        usage_object(usage),
        completion_id=completion_id(message.get("id")),
    )


def _input_json(value: Any) -> str:
    """A tool call's `input` as OpenAI `arguments`: the compact JSON of an object."""
    if not isinstance(value, dict | None):
        raise malformed()
    return dumps_arguments(value)


def completion_id(message_id: Any) -> str:
    """`chatcmpl-<Anthropic message id>`, so a client's id leads back to the upstream log."""
    return (
        f"chatcmpl-{message_id}"
        if isinstance(message_id, str) and message_id
        else (shaping.new_id("chatcmpl-"))
    )
