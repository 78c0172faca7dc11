"""Builders for OpenAI response objects and stream chunks, shared by every translating backend."""

from __future__ import annotations

import time
import uuid
from typing import Any


def new_id(prefix: str) -> str:
    """An id in OpenAI's style, e.g. `chatcmpl-…` or `call_…`."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def is_count(value: Any) -> bool:
    """True for a count or index an upstream's answer may hold (a token count, a choice's
    index): a non-negative integer, not a bool, which Python takes for an integer."""
    return type(value) is int and value >= 0


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """A CompletionUsage object."""
    prompt_tokens, completion_tokens = int(prompt_tokens), int(completion_tokens)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class CountedUsage(dict):
    """A usage object the gateway counted itself, the provider having reported none.

    Sent like any usage object. A legacy completion served through chat recounts the prompt of
    such a usage as plain text, its `prompt_tokens` being the count of a chat message (framing
    included); a provider's reported usage is what it bills, and is kept.
    """


def counted_usage(prompt_tokens: int, completion_tokens: int) -> CountedUsage:
    """A CompletionUsage object counted by the gateway (see `CountedUsage`)."""
    return CountedUsage(usage(prompt_tokens, completion_tokens))


def message(content: str | None, tool_calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An assistant ChatCompletionResponseMessage (`refusal` present as null, as the spec needs)."""
    msg: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    return msg


def function_call_message(content: str | None, name: str, arguments: str) -> dict[str, Any]:
    """An assistant message with the deprecated `function_call`, the answer to `functions`."""
    msg = message(content)
    msg["function_call"] = {"name": name, "arguments": arguments}
    return msg


def calls_message(
    content: str | None, tool_calls: list[dict[str, Any]], legacy: bool
) -> dict[str, Any]:
    """An assistant message with its tool calls, or, answering the deprecated `functions`
    (`legacy`), with its first call as the `function_call` (OpenAI's legacy answer has one)."""
    if legacy and tool_calls:
        function = tool_calls[0]["function"]
        return function_call_message(content, function["name"], function["arguments"])
    return message(content, tool_calls or None)


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """A function tool call as it appears in a response message."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def choice(
    index: int, msg: dict[str, Any], finish_reason: str, logprobs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One `choices[]` item of a chat.completion (`logprobs` null unless given)."""
    return {"index": index, "message": msg, "logprobs": logprobs, "finish_reason": finish_reason}


def envelope(
    object_type: str,
    id_prefix: str,
    model: str,
    choices: list[dict[str, Any]],
    usage_obj: dict[str, int] | None,
    *,
    completion_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """The outer object shared by `chat.completion` and `text_completion` answers."""
    body: dict[str, Any] = {
        "id": completion_id or new_id(id_prefix),
        "object": object_type,
        "created": created or int(time.time()),
        "model": model,
        "choices": choices,
    }
    if usage_obj is not None:
        body["usage"] = usage_obj
    return body


def chat_completion(
    model: str,
    choices: list[dict[str, Any]],
    usage_obj: dict[str, int] | None,
    *,
    completion_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """A complete `chat.completion` object."""
    return envelope(
        "chat.completion",
        "chatcmpl-",
        model,
        choices,
        usage_obj,
        completion_id=completion_id,
        created=created,
    )


class ChunkFactory:
    """Makes `chat.completion.chunk`s that share one id, `created` and model."""

    def __init__(
        self, model: str, *, include_usage: bool = False, completion_id: str | None = None
    ):
        self.model = model
        self.id = completion_id or new_id("chatcmpl-")
        self.created = int(time.time())
        self.include_usage = include_usage

    def chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        """A chunk with the given choices; `usage: null` when the client asked for usage."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            body["usage"] = None
        return body

    def delta(
        self,
        index: int,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        logprobs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A chunk carrying one choice's delta (`logprobs` null unless given)."""
        item = {
            "index": index,
            "delta": delta,
            "logprobs": logprobs,
            "finish_reason": finish_reason,
        }
        return self.chunk([item])

    def role(self, index: int = 0) -> dict[str, Any]:
        """The first chunk of a choice: the assistant role with empty content."""
        return self.delta(index, {"role": "assistant", "content": "", "refusal": None})

    def content(
        self, index: int, text: str, logprobs: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A content delta, with the `logprobs` of its tokens when asked for."""
        return self.delta(index, {"content": text}, logprobs=logprobs)

    def tool_call(
        self,
        index: int,
        tool_index: int,
        *,
        call_id: str | None = None,
        name: str | None = None,
        arguments: str = "",
    ) -> dict[str, Any]:
        """A tool-call delta; the first one of a call carries its id, type and name."""
        item: dict[str, Any] = {"index": tool_index}
        function: dict[str, Any] = {"arguments": arguments}
        if call_id is not None:
            item["id"] = call_id
            item["type"] = "function"
        if name is not None:
            function["name"] = name
        item["function"] = function
        return self.delta(index, {"tool_calls": [item]})

    def function_call(
        self, index: int, *, name: str | None = None, arguments: str = ""
    ) -> dict[str, Any]:
        """A deprecated `function_call` delta; the first one of the call carries its name."""
        function: dict[str, Any] = {"arguments": arguments}
        if name is not None:
            function = {"name": name, **function}
        return self.delta(index, {"function_call": function})

    def finish(self, index: int, reason: str) -> dict[str, Any]:
        """The last chunk of a choice, with an empty delta and its finish_reason."""
        return self.delta(index, {}, reason)

    def usage(self, usage_obj: dict[str, int]) -> dict[str, Any]:
        """The final usage chunk: empty `choices` and the usage totals."""
        body = self.chunk([])
        body["usage"] = usage_obj
        return body
