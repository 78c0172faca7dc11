"""OpenAI chat messages as Gemini `contents` and `systemInstruction`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.backends.gemini.names import FunctionNames
from app.backends.gemini.tools import ThoughtSignatures
from app.backends.images import ImagePolicy, data_url_type, load_image
from app.backends.translate import (
    CONVERSATION_START,
    content_parts,
    content_text,
    parse_data_url,
    tool_arguments,
)
from app.errors import InvalidRequestError, UnsupportedError

# Accepted by Gemini 3 in place of a signature it never issued (e.g. history from elsewhere).
SKIP_SIGNATURE = "skip_thought_signature_validator"
# Deeper JSON values are not sent as structs: encoding the request would overflow Python's
# stack (a 500), and Google's proto parser refuses such depth anyway.
MAX_JSON_DEPTH = 64
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}


class _EmptyMessage(dict):
    """The text part an empty user message is sent as: Gemini refuses empty text, and leaving
    the turn out would change the conversation (end it on the model's turn, or send no turn at
    all). One space is the least text Gemini takes; Conversation.add leaves it out of a turn
    that has other parts, since merged into them it stands for nothing."""

    def __init__(self) -> None:
        super().__init__(text=" ")


@dataclass
class Conversation:
    """Translation state: the contents built so far and the tool calls seen by id."""

    images: ImagePolicy
    signatures: ThoughtSignatures
    placeholder_signature: bool = False
    system: list[dict[str, Any]] = field(default_factory=list)
    contents: list[dict[str, Any]] = field(default_factory=list)
    call_names: dict[str, str] = field(default_factory=dict)
    function_names: FunctionNames = field(default_factory=FunctionNames)

    def add(self, role: str, parts: list[dict[str, Any]]) -> None:
        """Append parts as a turn of `role`, merged into the previous turn of the same role."""
        if not parts:
            return
        if self.contents and self.contents[-1]["role"] == role:
            turn = self.contents[-1]["parts"]
            # An empty message's stand-in text means nothing beside other parts.
            if _stand_in(parts):
                return
            if _stand_in(turn):
                turn.clear()
            turn.extend(parts)
        else:
            self.contents.append({"role": role, "parts": parts})


def _stand_in(parts: list[dict[str, Any]]) -> bool:
    """True for the parts of an empty user message (its stand-in text alone)."""
    return len(parts) == 1 and isinstance(parts[0], _EmptyMessage)


def build_contents(
    messages: list[dict[str, Any]], conversation: Conversation
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """(contents, systemInstruction) for the messages; consecutive same-role turns merged."""
    for i, message in enumerate(messages):
        role = message.get("role")
        handler = _HANDLERS.get(role)  # type: ignore[arg-type]
        if handler is None:
            raise InvalidRequestError(
                f"Unsupported message role {role!r}.", param=f"messages[{i}].role"
            )
        handler(message, f"messages[{i}]", conversation)
    system = {"parts": conversation.system} if conversation.system else None
    first = conversation.contents[0] if conversation.contents else None
    if first is not None and first["role"] == "model":
        if any("functionCall" in part for part in first["parts"]):
            # Gemini wants a user turn before a function call turn; OpenAI takes a history
            # that opens with tool calls (e.g. one seeded by the application).
            opening = {"role": "user", "parts": [{"text": CONVERSATION_START}]}
            conversation.contents.insert(0, opening)
    if not conversation.contents and system is not None:
        # Gemini needs at least one turn: a request of system messages only becomes the prompt.
        return [{"role": "user", "parts": conversation.system}], None
    return conversation.contents, system


def _system(message: dict[str, Any], param: str, conv: Conversation) -> None:
    text = content_text(message.get("content"))
    if text:
        conv.system.append({"text": text})


def _user(message: dict[str, Any], param: str, conv: Conversation) -> None:
    parts = []
    for j, part in enumerate(content_parts(message.get("content"))):
        parts.extend(_user_part(part, f"{param}.content[{j}]", conv.images))
    conv.add("user", parts or [_EmptyMessage()])


def _user_part(part: dict[str, Any], param: str, images: ImagePolicy) -> list[dict[str, Any]]:
    kind = part.get("type")
    if kind == "text":
        return [{"text": part["text"]}] if part.get("text") else []
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url", "")
        mime, data = load_image(url, images, f"{param}.image_url.url")
        return [{"inlineData": {"mimeType": mime, "data": data}}]
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        mime = _AUDIO_TYPES.get(audio.get("format", ""), f"audio/{audio.get('format')}")
        return [{"inlineData": {"mimeType": mime, "data": audio.get("data", "")}}]
    if kind == "file":
        file = part.get("file") or {}
        if not file.get("file_data"):
            raise UnsupportedError(
                "Only inline files (`file_data`) can be sent to this model.", param=f"{param}.file"
            )
        mime, data = parse_data_url(file["file_data"], f"{param}.file.file_data")
        if mime.lower().startswith("image/"):
            mime = data_url_type(mime, data)
        return [{"inlineData": {"mimeType": mime, "data": data}}]
    raise UnsupportedError(
        f"Content parts of type {kind!r} are not supported.", param=f"{param}.type"
    )


def _assistant(message: dict[str, Any], param: str, conv: Conversation) -> None:
    parts: list[dict[str, Any]] = []
    text = content_text(message.get("content"))
    if text:
        parts.append({"text": text})
    calls = []
    for k, call in enumerate(message.get("tool_calls") or []):
        if call.get("type") != "function":
            raise UnsupportedError(
                f"Tool calls of type `{call.get('type')}` are not supported by this model; "
                "only function tool calls are.",
                param=f"{param}.tool_calls[{k}].type",
            )
        calls.append(
            (call.get("id", ""), call.get("function") or {}, f"{param}.tool_calls[{k}].function")
        )
    if message.get("function_call"):
        legacy = message["function_call"]
        calls.append((legacy.get("name", ""), legacy, f"{param}.function_call"))
    for n, (call_id, function, call_param) in enumerate(calls):
        name = conv.function_names.to_gemini(function.get("name", ""))
        args = _arguments(function.get("arguments", ""), f"{call_param}.arguments")
        conv.call_names[call_id] = name
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        signature = conv.signatures.get(call_id)
        if signature is None and n == 0 and conv.placeholder_signature:
            signature = SKIP_SIGNATURE
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    conv.add("model", parts)


def _tool(message: dict[str, Any], param: str, conv: Conversation) -> None:
    call_id = message.get("tool_call_id", "")
    name = conv.call_names.get(call_id)
    if name is None:
        raise InvalidRequestError(
            f"No assistant tool call with id {call_id!r} precedes this tool message.",
            param=f"{param}.tool_call_id",
        )
    conv.add("user", [_function_response(name, message.get("content"))])


def _function(message: dict[str, Any], param: str, conv: Conversation) -> None:
    name = conv.function_names.to_gemini(message.get("name", ""))
    conv.add("user", [_function_response(name, message.get("content"))])


def _function_response(name: str, content: Any) -> dict[str, Any]:
    """A functionResponse part; Gemini wants an object, so other results go under `output`."""
    text = content_text(content)
    try:
        value: Any = json.loads(text)
    except (ValueError, RecursionError):
        value = text
    if not _shallow(value):
        value = text
    response = value if isinstance(value, dict) else {"output": value}
    return {"functionResponse": {"name": name, "response": response}}


def _arguments(arguments: str, param: str) -> dict[str, Any]:
    """A replayed call's arguments as an object; absurdly deep JSON is a 400, not a crash."""
    args = tool_arguments(arguments, param)
    if not _shallow(args):
        raise InvalidRequestError("Tool call arguments are nested too deeply.", param=param)
    return args


def _shallow(value: Any) -> bool:
    """True when the JSON value nests at most MAX_JSON_DEPTH arrays/objects deep."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            return False
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return True


_HANDLERS = {
    "system": _system,
    "developer": _system,
    "user": _user,
    "assistant": _assistant,
    "tool": _tool,
    "function": _function,
}
