"""The t3.chat `/api/chat` request body, built from an OpenAI chat completion request."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from app.backends.base import Call
from app.backends.translate import content_text
from app.errors import InvalidRequestError, UnsupportedError

CHAT_PATH = "/api/chat"
SYSTEM_OPEN = "[System instructions]"
SYSTEM_CLOSE = "[End of system instructions]"
# t3.chat knows three effort levels; OpenAI's extra values map to the nearest one.
_EFFORTS = {
    "none": "low",
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "high",
    "max": "high",
}
_FOLDED_ROLES = ("system", "developer")


def _check_supported(body: Mapping[str, Any]) -> None:
    """Refuse what the web protocol cannot do instead of silently dropping it."""
    if (body.get("n") or 1) > 1:
        raise UnsupportedError(
            "The t3chat backend returns a single choice; `n` must be 1.", param="n"
        )
    if body.get("tools") or body.get("functions"):
        raise UnsupportedError("The t3chat backend does not support tools.", param="tools")
    if body.get("logprobs"):
        raise UnsupportedError("This model does not return log probabilities.", param="logprobs")
    for i, message in enumerate(body["messages"]):
        content = message.get("content")
        for j, part in enumerate(content if isinstance(content, list) else []):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("text", "refusal"):
                raise UnsupportedError(
                    f"The t3chat backend accepts text content only, not `{kind}` parts.",
                    param=f"messages[{i}].content[{j}]",
                )


def _turn(role: str, text: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "role": role,
        "parts": [{"type": "text", "text": text}],
        "attachments": [],
    }


def fold_system(instructions: list[str], text: str) -> str:
    """A user turn's text with the system instructions in front, clearly delimited."""
    block = "\n\n".join(instructions)
    if not text:
        return f"{SYSTEM_OPEN}\n{block}\n{SYSTEM_CLOSE}"
    return f"{SYSTEM_OPEN}\n{block}\n{SYSTEM_CLOSE}\n\n{text}"


def conversation(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """t3.chat turns: user and assistant only; system/developer text folded into the first user.

    Tool results (from histories built elsewhere) travel as delimited user text.
    """
    instructions = [
        content_text(m.get("content")) for m in messages if m.get("role") in _FOLDED_ROLES
    ]
    instructions = [text for text in instructions if text]
    turns: list[dict[str, Any]] = []
    for message in messages:
        role, text = message.get("role"), content_text(message.get("content"))
        if role in _FOLDED_ROLES:
            continue
        if role in ("tool", "function"):
            role, text = "user", f"[Tool result]\n{text}\n[End of tool result]"
        if role not in ("user", "assistant"):
            raise InvalidRequestError(f"Unsupported message role `{role}`.", param="messages")
        turns.append(_turn(role, text))
    first_user = next((t for t in turns if t["role"] == "user"), None)
    if instructions and first_user is None:
        turns.insert(0, _turn("user", fold_system(instructions, "")))
    elif instructions:
        part = first_user["parts"][0]
        part["text"] = fold_system(instructions, part["text"])
    return turns


def reasoning_effort(body: Mapping[str, Any], options: Mapping[str, Any]) -> str:
    """The request's `reasoning_effort` mapped to t3.chat's levels, else the configured default."""
    requested = body.get("reasoning_effort") or options.get("reasoning_effort") or "low"
    return _EFFORTS.get(str(requested), "low")


def include_search(body: Mapping[str, Any], options: Mapping[str, Any]) -> bool:
    """Web search: on when the client sends `web_search_options`, else the configured default."""
    if body.get("web_search_options") is not None:
        return True
    return bool(options.get("include_search", False))


def chat_body(
    call: Call, session_id: str, options: Mapping[str, Any]
) -> tuple[dict[str, Any], str]:
    """The JSON body for `/api/chat` and the fresh thread id it names."""
    _check_supported(call.body)
    thread_id = str(uuid.uuid4())
    body = {
        "messages": conversation(call.body["messages"]),
        "threadMetadata": {"id": thread_id},
        "responseMessageId": str(uuid.uuid4()),
        "model": call.route.upstream_model,
        "convexSessionId": session_id,
        "modelParams": {
            "reasoningEffort": reasoning_effort(call.body, options),
            "includeSearch": include_search(call.body, options),
        },
        "preferences": {"name": "", "occupation": "", "selectedTraits": [], "additionalInfo": ""},
        "userInfo": {"timezone": str(options.get("timezone", "UTC"))},
    }
    return body, thread_id


def chat_headers(base_url: str, thread_id: str) -> dict[str, str]:
    """Per-request headers the web client sends (the cookie header is the session's)."""
    parts = urlsplit(base_url)
    return {
        "Content-Type": "application/json",
        "Accept": "*/*",
        "Origin": f"{parts.scheme}://{parts.netloc}",
        "Referer": f"{base_url}/chat/{thread_id}",
    }
