"""A Gemini `GenerateContentResponse` as an OpenAI `chat.completion`."""

from __future__ import annotations

from typing import Any

from app.backends import shaping, translate
from app.backends.base import Call
from app.backends.gemini.errors import malformed
from app.backends.gemini.logprobs import candidate_logprobs, top_logprobs
from app.backends.gemini.names import FunctionNames
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


def finish_reason(raw: str | None, has_tool_calls: bool, legacy: bool = False) -> str:
    """The OpenAI finish_reason; a normal end after function calls is `tool_calls`, or
    `function_call` in answer to the deprecated `functions` (`legacy`)."""
    reason = FINISH_REASONS.get(raw if isinstance(raw, str) and raw else "STOP", "stop")
    if has_tool_calls and reason == "stop":
        return "function_call" if legacy else "tool_calls"
    return reason


def candidates_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload's candidates, checked: a bad shape is a 502, never a crash (a 500)."""
    items = payload.get("candidates")
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(c, dict) for c in items):
        raise malformed()
    return items


def read_parts(
    candidate: dict[str, Any],
    signatures: ThoughtSignatures,
    names: FunctionNames | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """(text pieces, tool calls) of a candidate's parts; thought summaries are left out, and
    function names are turned back into the client's (`names`, see FunctionNames)."""
    content = candidate.get("content")
    if content is not None and not isinstance(content, dict):
        raise malformed()
    # A candidate stopped before any output (SAFETY, MAX_TOKENS…) has no content or parts.
    parts = (content or {}).get("parts")
    parts = [] if parts is None else parts
    if not isinstance(parts, list) or not all(isinstance(p, dict) for p in parts):
        raise malformed()
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        if part.get("thought"):
            continue
        if "text" in part:
            if not isinstance(part["text"], str):
                raise malformed()
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            function = part["functionCall"]
            name = function.get("name")
            if not isinstance(name, str) or not isinstance(function.get("args", {}), dict | None):
                raise malformed()
            call_id = shaping.new_id("call_")
            signatures.remember(call_id, part.get("thoughtSignature"))
            arguments = dumps_arguments(function.get("args"))
            name = names.to_client(name) if names is not None else name
            calls.append(shaping.tool_call(call_id, name, arguments))
    return texts, calls


def one_call_only(call: Call) -> bool:
    """True for `parallel_tool_calls: false` and legacy `functions`. Gemini has no such switch:
    an answer keeps only its first function call, as OpenAI's models then make one per turn."""
    return call.body.get("parallel_tool_calls") is False or translate.legacy_functions(call.body)


def candidate_index(candidate: dict[str, Any], position: int) -> int:
    """The candidate's index (JSON omits the field when it is 0)."""
    index = candidate.get("index")
    return index if shaping.is_count(index) else position


def blocked(payload: dict[str, Any]) -> bool:
    """True when the prompt itself was blocked and no candidate was generated."""
    feedback = payload.get("promptFeedback")
    return (
        not payload.get("candidates")
        and isinstance(feedback, dict)
        and bool(feedback.get("blockReason"))
    )


def usage_from(metadata: Any) -> dict[str, Any] | None:
    """`usageMetadata` as OpenAI usage; thinking tokens count as completion tokens."""
    if not isinstance(metadata, dict) or _count(metadata, "promptTokenCount") is None:
        # Without a usable prompt count the gateway counts the usage itself.
        return None
    counts = {key: _count(metadata, key) or 0 for key in _COUNTS}
    prompt = counts["promptTokenCount"] + counts["toolUsePromptTokenCount"]
    thoughts = counts["thoughtsTokenCount"]
    usage: dict[str, Any] = shaping.usage(prompt, counts["candidatesTokenCount"] + thoughts)
    if counts["cachedContentTokenCount"]:
        usage["prompt_tokens_details"] = {"cached_tokens": counts["cachedContentTokenCount"]}
    if thoughts:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return usage


_COUNTS = (
    "promptTokenCount",
    "toolUsePromptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "cachedContentTokenCount",
)


def _count(metadata: dict[str, Any], key: str) -> int | None:
    """A token count of usageMetadata, or None when it is missing or not a count."""
    value = metadata.get(key)
    return value if shaping.is_count(value) else None


def chat_completion(
    call: Call, payload: dict[str, Any], signatures: ThoughtSignatures
) -> dict[str, Any]:
    """The chat.completion for a non-streamed Gemini answer."""
    choices = []
    names = FunctionNames.of(call.body)
    legacy = translate.legacy_functions(call.body)
    # A counted usage bills every call kept, a legacy `function_call` as much as tool calls.
    kept: list[dict[str, Any]] = []
    top = top_logprobs(call.body)
    if blocked(payload):
        choices = [
            shaping.choice(
                i, shaping.message(None), "content_filter", candidate_logprobs(None, top)
            )
            for i in range(call.body.get("n") or 1)
        ]
    for position, candidate in enumerate(candidates_of(payload)):
        texts, calls = read_parts(candidate, signatures, names)
        calls = calls[:1] if one_call_only(call) else calls
        kept.extend(calls)
        reason = finish_reason(candidate.get("finishReason"), bool(calls), legacy)
        # As OpenAI: null content only beside calls or for a filtered answer; an answer
        # cut before any text (MAX_TOKENS spent on thinking, an empty STOP) has "".
        empty = bool(calls) or reason == "content_filter"
        content = "".join(texts) if texts or not empty else None
        logprobs = candidate_logprobs(candidate if content is not None else None, top)
        index = candidate_index(candidate, position)
        message = shaping.calls_message(content, calls, legacy)
        choices.append(shaping.choice(index, message, reason, logprobs))
    if not choices:
        raise UpstreamError("Upstream returned no candidates.", retryable=True)
    choices.sort(key=lambda c: c["index"])
    usage = usage_from(payload.get("usageMetadata"))
    if usage is None:
        messages = [c["message"] for c in choices]
        text = "".join(m["content"] or "" for m in messages)
        usage = counted_chat_usage(call, text, kept)
    return shaping.chat_completion(call.model, choices, usage)
