"""OpenAI chat messages → Anthropic `system` text and alternating user/assistant turns."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from app.backends.anthropic.caching import CLIENT_MARK, client_marked, message_marked
from app.backends.anthropic.legacy import LegacyCalls
from app.backends.images import data_url_type
from app.backends.translate import CONVERSATION_START, content_text, parse_data_url, tool_arguments
from app.errors import InvalidRequestError, UnsupportedError

Block = dict[str, Any]
Turn = dict[str, Any]

# What Anthropic refuses in tool_use ids (it takes ^[a-zA-Z0-9_-]+$); OpenAI takes any string,
# and histories replayed from other providers carry ids such as "functions.get_weather:0".
_TOOL_ID_REFUSED = re.compile(r"[^a-zA-Z0-9_-]")


def _text_block(text: str) -> list[Block]:
    # Anthropic refuses empty and whitespace-only text blocks, so such text is left out.
    return [{"type": "text", "text": text}] if text.strip() else []


def _image_block(part: dict[str, Any], param: str) -> Block:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise InvalidRequestError("Expected an image URL string.", param=f"{param}.image_url.url")
    if url.startswith("data:"):
        media_type, data = parse_data_url(url, param=f"{param}.image_url.url")
        source = {"type": "base64", "media_type": data_url_type(media_type, data), "data": data}
        return {"type": "image", "source": source}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequestError(
        "Image URLs must be http(s) URLs or base64 data URLs.", param=f"{param}.image_url.url"
    )


def tool_id(call_id: str) -> str:
    """The tool call id as Anthropic takes it; an id with other characters is rewritten.

    The same id always gives the same result, so a call and its result still match; the hash
    keeps apart ids that differ only in the replaced characters.
    """
    if call_id and not _TOOL_ID_REFUSED.search(call_id):
        return call_id
    digest = hashlib.sha256(call_id.encode()).hexdigest()[:12]
    return f"{_TOOL_ID_REFUSED.sub('_', call_id)}_{digest}"


def _document_block(part: dict[str, Any], param: str) -> Block:
    file = part.get("file") if isinstance(part.get("file"), dict) else {}
    data_url = file.get("file_data")
    if not isinstance(data_url, str):
        raise UnsupportedError(
            "Only inline files (`file_data`) are supported by this model.", param=f"{param}.file"
        )
    media_type, data = parse_data_url(data_url, param=f"{param}.file.file_data")
    if media_type != "application/pdf":
        raise UnsupportedError(
            f"Files of type {media_type} are not supported by this model; send PDF files.",
            param=f"{param}.file.file_data",
        )
    source = {"type": "base64", "media_type": media_type, "data": data}
    return {"type": "document", "source": source}


def _user_blocks(content: Any, param: str) -> list[Block]:
    if isinstance(content, str) or content is None:
        return _text_block(content or "")
    if not isinstance(content, list):
        raise InvalidRequestError("Expected a string or an array of content parts.", param=param)
    blocks: list[Block] = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            made = _text_block(str(part.get("text") or ""))
        elif kind == "image_url":
            made = [_image_block(part, f"{param}[{i}]")]
        elif kind == "file":
            made = [_document_block(part, f"{param}[{i}]")]
        else:
            raise UnsupportedError(
                f"Content parts of type {kind!r} are not supported by this model.",
                param=f"{param}[{i}].type",
            )
        if made and client_marked(part):
            _mark(made[-1])
        blocks += made
    return blocks


def _mark(block: Block) -> None:
    """Note a client's cache breakpoint on `block`; caching.place_breakpoints decides."""
    block[CLIENT_MARK] = {"type": "ephemeral"}


def _tool_use(call_id: str, function: dict[str, Any], param: str) -> Block:
    """The `tool_use` block of a call of `function` ({name, arguments}, found at `param`)."""
    arguments = tool_arguments(function.get("arguments") or "", f"{param}.arguments")
    return {
        "type": "tool_use",
        "id": tool_id(call_id),
        "name": function["name"],
        "input": arguments,
    }


def _tool_use_blocks(
    message: dict[str, Any], index: int, legacy: LegacyCalls | None
) -> list[Block]:
    param = f"messages[{index}]"
    tool_calls = message.get("tool_calls") or []
    if not isinstance(tool_calls, list):
        raise InvalidRequestError("Expected an array of tool calls.", param=f"{param}.tool_calls")
    blocks = []
    for i, call in enumerate(tool_calls):
        where = f"{param}.tool_calls[{i}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not call.get("id") or not function.get("name"):
            raise InvalidRequestError(
                "A tool call needs an `id` and a function `name`.", param=where
            )
        blocks.append(_tool_use(str(call["id"]), function, f"{where}.function"))
    function = message.get("function_call")
    if function:
        where = f"{param}.function_call"
        if legacy is None:
            raise UnsupportedError(
                "The deprecated `function_call` is only supported in requests with `functions` "
                "and no `tools`; use `tool_calls`.",
                param=where,
            )
        if not isinstance(function, dict) or not function.get("name"):
            raise InvalidRequestError("A function call needs a `name`.", param=where)
        blocks.append(_tool_use(legacy.call(function["name"], index), function, where))
    return blocks


def _tool_result_block(message: dict[str, Any], param: str) -> Block:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequestError("Missing required parameter.", param=f"{param}.tool_call_id")
    return _tool_result(call_id, message.get("content"))


def _tool_result(call_id: str, content: Any) -> Block:
    block: Block = {"type": "tool_result", "tool_use_id": tool_id(call_id)}
    text = content_text(content)
    # Blank content would be a whitespace-only text block, which Anthropic refuses.
    if text.strip():
        block["content"] = text
    return block


def _turn(message: Any, index: int, legacy: LegacyCalls | None) -> tuple[str, list[Block]]:
    """(role, content blocks) of one non-system message; tool results belong to the user.

    `legacy` pairs legacy function calls with their results (None: a request without legacy
    `functions`, whose legacy calls and results are refused).
    """
    param = f"messages[{index}]"
    role = message.get("role") if isinstance(message, dict) else None
    if role == "user":
        return "user", _user_blocks(message.get("content"), f"{param}.content")
    if role == "assistant":
        text = content_text(message.get("content"))
        return "assistant", _text_block(text) + _tool_use_blocks(message, index, legacy)
    if role == "tool":
        return "user", [_tool_result_block(message, param)]
    if role == "function":
        if legacy is None:
            raise UnsupportedError(
                "Deprecated `function` messages are only supported in requests with `functions` "
                "and no `tools`; use `tool` messages.",
                param=f"{param}.role",
            )
        call_id = legacy.result(message.get("name"), index)
        return "user", [_tool_result(call_id, message.get("content"))]
    raise InvalidRequestError(
        f"Invalid value: {role!r} is not a supported role.", param=f"{param}.role"
    )


def system_text(messages: list[Any]) -> str:
    """Every system and developer message's text, in order, joined by blank lines."""
    texts = []
    for message in messages:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            text = content_text(message.get("content"))
            # Whitespace alone tells the model nothing, as for any other message.
            if text.strip():
                texts.append(text)
    return "\n\n".join(texts)


def prompt(messages: list[Any], legacy: bool = False) -> tuple[str, list[Turn]]:
    """(system, turns) for the messages; `legacy` for a request with legacy `functions`.

    OpenAI answers a request of system messages only, while Anthropic needs a user message:
    their text is then sent as the user's turn (as the Gemini backend does).
    """
    system = system_text(messages)
    turns = conversation(messages, legacy=legacy)
    if turns:
        return system, turns
    if not system:
        raise InvalidRequestError(
            "At least one non-empty user or assistant message is required.", param="messages"
        )
    return "", [{"role": "user", "content": _text_block(system)}]


def conversation(messages: list[Any], legacy: bool = False) -> list[Turn]:
    """The non-system messages as alternating turns, the user's first; same-role turns merge.

    `legacy` (a request with legacy `functions`) takes legacy function calls and `function`
    messages as tool use and results.
    """
    turns: list[Turn] = []
    calls = LegacyCalls() if legacy else None
    for index, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            continue
        role, blocks = _turn(message, index, calls)
        if not blocks:
            continue
        # A mark on the message, or on a part of content the gateway sends as one block,
        # marks the message's last block; a user's parts were marked one by one.
        if client_marked(message) or (message["role"] != "user" and message_marked(message)):
            _mark(blocks[-1])
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        # Anthropic wants a user turn's tool results before any other content.
        turn["content"].sort(key=lambda block: block["type"] != "tool_result")
    _trim_prefill(turns)
    if turns and turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": _text_block(CONVERSATION_START)})
    return turns


def _trim_prefill(turns: list[Turn]) -> None:
    """A final assistant turn is a prefill, which Anthropic refuses with trailing whitespace."""
    if not turns or turns[-1]["role"] != "assistant":
        return
    last = turns[-1]["content"][-1]
    if last["type"] == "text":
        # Whitespace-only blocks were never made, so some text is always left.
        last["text"] = last["text"].rstrip()
