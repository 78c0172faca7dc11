"""Helpers shared by the backends that translate OpenAI requests to another provider's format."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from typing import Any

from app.backends import shaping
from app.backends.base import Call
from app.errors import InvalidRequestError
from app.tokens import count_functions, count_messages, count_text

# The user turn put first when a conversation opens with the assistant's: Anthropic and Gemini
# need a user turn first (and refuse empty text), OpenAI takes such a history.
CONVERSATION_START = "(conversation start)"
_DATA_URL = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,(?P<data>.*)$", re.S
)


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of an array joined."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(
        part.get("text", "") if part.get("type") == "text" else part.get("refusal", "")
        for part in content
        if isinstance(part, dict) and part.get("type") in ("text", "refusal")
    )


def content_parts(content: Any) -> list[dict[str, Any]]:
    """The content as a list of OpenAI parts (a string becomes one text part)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)


def parse_data_url(url: str, param: str | None = None) -> tuple[str, str]:
    """`data:image/png;base64,...` → (mime type, base64 data); a malformed one is a 400."""
    match = _DATA_URL.match(url)
    if not match:
        raise InvalidRequestError(
            "Invalid image data URL: expected data:<mime>;base64,<data>.", param=param
        )
    data = match.group("data").strip()
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestError("Invalid base64 data in image data URL.", param=param) from exc
    return match.group("mime") or "application/octet-stream", data


def stop_sequences(body: dict[str, Any]) -> list[str]:
    """`stop` as a list (it may be absent, null, a string or a list); empty strings are dropped."""
    stop = body.get("stop")
    if stop is None:
        return []
    # An empty stop string would end every reply before it starts; it is ignored in both forms.
    return [s for s in ([stop] if isinstance(stop, str) else stop) if s]


def max_output_tokens(body: dict[str, Any]) -> int | None:
    """`max_completion_tokens`, else the deprecated `max_tokens`, else None."""
    value = body.get("max_completion_tokens")
    return value if value is not None else body.get("max_tokens")


def tool_arguments(arguments: str, param: str | None = None) -> dict[str, Any]:
    """Parse an assistant tool call's JSON `arguments` string into an object."""
    if not arguments:
        return {}
    try:
        value = json.loads(arguments)
    except ValueError as exc:
        raise InvalidRequestError("Tool call arguments are not valid JSON.", param=param) from exc
    except RecursionError as exc:  # nested deeper than the parser's stack allows
        raise InvalidRequestError(
            "Tool call arguments are nested too deeply.", param=param
        ) from exc
    if not isinstance(value, dict):
        raise InvalidRequestError("Tool call arguments must be a JSON object.", param=param)
    return value


def dumps_arguments(value: Any) -> str:
    """Tool call arguments as the compact JSON string OpenAI clients expect."""
    return json.dumps(value if value is not None else {}, ensure_ascii=False, separators=(",", ":"))


def legacy_functions(body: dict[str, Any]) -> bool:
    """True for a request with the deprecated `functions` and no `tools`, which OpenAI answers
    with one `function_call` (finish reason `function_call`) instead of `tool_calls`."""
    return bool(body.get("functions")) and not body.get("tools")


def function_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `function` objects of the request's function tools (and deprecated `functions`)."""
    tools = [t["function"] for t in body.get("tools") or [] if t.get("type") == "function"]
    return tools or list(body.get("functions") or [])


def chat_prompt_tokens(body: dict[str, Any], model: str) -> int:
    """The prompt tokens of a chat request as the gateway counts them: its messages (framing
    included) and its declared functions."""
    return count_messages(body["messages"], model) + count_functions(function_tools(body), model)


def counted_chat_usage(
    call: Call, completion_text: str, tool_calls: Iterable[dict[str, Any]] = ()
) -> shaping.CountedUsage:
    """The usage of a chat answer whose provider reported none, counted by the gateway:
    `call`'s messages and declared functions, then the answer's text and each tool call's
    name and arguments."""
    model = call.route.upstream_model
    prompt = chat_prompt_tokens(call.body, model)
    completion = count_text(completion_text, model)
    for tool_call in tool_calls:
        function = tool_call["function"]
        completion += count_text(function["name"], model)
        completion += count_text(function["arguments"], model)
    return shaping.counted_usage(prompt, completion)
