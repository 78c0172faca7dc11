"""A Gemini `GenerateContentResponse` as an OpenAI `chat.completion`."""

from __future__ import annotations

from typing import Any

from app.backends import shaping
from app.backends.base import Call
from app.backends.gemini.tools import ThoughtSignatures
from app.backends.translate import counted_chat_usage, dumps_arguments
from app.errors import UpstreamError

# Gemini finishReason → OpenAI finish_reason; anything not listed ends normally ("stop").
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}


def finish_reason(raw: str | None, has_tool_calls: bool) -> str:
    """The OpenAI finish_reason; a normal end after function calls is `tool_calls`."""
    reason = FINISH_REASONS.get(raw or "STOP", "stop")
    return "tool_calls" if has_tool_calls and reason == "stop" else reason


def read_parts(
    parts: list[dict[str, Any]], signatures: ThoughtSignatures
) -> tuple[list[str], list[dict[str, Any]]]:
    """(text pieces, tool calls) of a candidate's parts; thought summaries are left out."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        if part.get("thought"):
            continue
        if "text" in part:
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            function = part["functionCall"]
            call_id = shaping.new_id("call_")
            signatures.remember(call_id, part.get("thoughtSignature"))
            arguments = dumps_arguments(function.get("args"))
            calls.append(shaping.tool_call(call_id, function.get("name", ""), arguments))
    return texts, calls


def candidate_index(candidate: dict[str, Any], position: int) -> int:
    """The candidate's index (JSON omits the field when it is 0)."""
    index = candidate.get("index")
    return index if isinstance(index, int) else position


def blocked(payload: dict[str, Any]) -> bool:
    """True when the prompt itself was blocked and no candidate was generated."""
    feedback = payload.get("promptFeedback") or {}
    return not payload.get("candidates") and bool(feedback.get("blockReason"))


def usage_from(metadata: Any) -> dict[str, Any] | None:
    """`usageMetadata` as OpenAI usage; thinking tokens count as completion tokens."""
    if not isinstance(metadata, dict) or "promptTokenCount" not in metadata:
        return None
    prompt = metadata.get("promptTokenCount", 0) + metadata.get("toolUsePromptTokenCount", 0)
    thoughts = metadata.get("thoughtsTokenCount", 0)
    usage: dict[str, Any] = shaping.usage(
        prompt, metadata.get("candidatesTokenCount", 0) + thoughts
    )
    if metadata.get("cachedContentTokenCount"):
        usage["prompt_tokens_details"] = {"cached_tokens": metadata["cachedContentTokenCount"]}
    if thoughts:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return usage


def chat_completion(
    call: Call, payload: dict[str, Any], signatures: ThoughtSignatures
) -> dict[str, Any]:
    """The chat.completion for a non-streamed Gemini answer."""
    choices = []
    if blocked(payload):
        choices = [
            shaping.choice(i, shaping.message(None), "content_filter")
            for i in range(call.body.get("n") or 1)
        ]
    for position, candidate in enumerate(payload.get("candidates") or []):
        texts, calls = read_parts((candidate.get("content") or {}).get("parts") or [], signatures)
        content = "".join(texts) if texts else None
        reason = finish_reason(candidate.get("finishReason"), bool(calls))
        index = candidate_index(candidate, position)
        choices.append(shaping.choice(index, shaping.message(content, calls or None), reason))
    if not choices:
        raise UpstreamError("Upstream returned no candidates.", retryable=True)
    choices.sort(key=lambda c: c["index"])
    usage = usage_from(payload.get("usageMetadata"))
    if usage is None:
        messages = [c["message"] for c in choices]
        text = "".join(m["content"] or "" for m in messages)
        calls = [t for m in messages for t in m.get("tool_calls") or ()]
        usage = counted_chat_usage(call, text, calls)
    return shaping.chat_completion(call.model, choices, usage)
