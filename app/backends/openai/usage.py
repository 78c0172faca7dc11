"""Usage in relayed `openai` streams: reported, split off content chunks, or counted."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from app.backends import shaping
from app.backends.translate import chat_prompt_tokens
from app.tokens import count_text

# Some upstreams send `"usage": null` in every chunk: told apart without parsing the event.
_NO_USAGE = re.compile(rb'"usage"\s*:\s*null\s*[,}]')
# What the gateway's usage chunk copies from the stream's chunks, besides `model`.
_CHUNK_KEYS = ("id", "object", "created", "service_tier", "system_fingerprint")
# The objects of the spec's CompletionUsage besides its three counts.
_DETAILS = ("prompt_tokens_details", "completion_tokens_details")


class UsageCounter:
    """The final usage chunk of a stream whose client asked for usage (`include_usage`).

    The upstream's own usage chunk is relayed as it is. Usage the upstream put on a chunk with
    choices, or only inside a vendor extension (`vendor_usage`), goes to a chunk of its own.
    When the upstream sends none, prompt tokens are counted from the request, completion tokens
    from the streamed text (content, refusal, tool-call names and arguments, or legacy `text`).
    """

    def __init__(self, operation: str, body: dict[str, Any], upstream_model: str) -> None:
        self.operation = operation
        self.body = body
        self.upstream_model = upstream_model
        self.upstream_sent = False
        # The upstream's usage when it came on a chunk with choices: sent in a chunk of its own.
        self.split: dict[str, Any] | None = None
        # Except when the client asked vLLM for usage on every chunk, where it belongs.
        options = body.get("stream_options")
        self.splits = not (isinstance(options, dict) and options.get("continuous_usage_stats"))
        self.parts: list[str] = []
        # id, created, object and fingerprint as the stream's chunks carry them.
        self.first: dict[str, Any] = {}
        # True once the upstream sent a usage chunk of its own (a top-level `usage`, no choices).
        self.own = False

    def add(self, data: bytes, on_usage: Callable[[dict[str, Any]], None] | None = None) -> bytes:
        """Take note of one relayed event and return it as it is to be relayed.

        `on_usage` gets the upstream's usage. Usage on a chunk that still has choices is set to
        null there, and `usage_chunk` sends it in the final `choices: []` chunk the spec
        describes.
        """
        if self.upstream_sent and data.find(b'"usage"') < 0:
            return data
        event = json_object(data)
        if event is None:
            return data
        for key in _CHUNK_KEYS:
            if key in event:
                self.first.setdefault(key, event[key])
        usage = event.get("usage")
        if usage:
            self.upstream_sent = True
            if not isinstance(usage, dict):
                return data
            if on_usage is not None:
                on_usage(usage)
            if not event.get("choices") or not self.splits:
                self.split = None  # the upstream's own usage chunk, last so far
                self.own = True
                return data
            self.split = usage
            event["usage"] = None
            return compact(event)
        extension = vendor_usage(event) if data.find(b'"usage"') >= 0 else None
        if extension is not None:
            self.upstream_sent = True
            if on_usage is not None:
                on_usage(extension)
            if not self.own:
                # The client reads usage only at the top level: it gets a chunk of its own.
                self.split = extension
            return data
        if not self.upstream_sent:
            for choice in event.get("choices") or ():
                self.parts.extend(choice_texts(choice))
        return data

    def usage_chunk(self, model: str) -> dict[str, Any] | None:
        """The final usage chunk for `model`: the usage split off a chunk with choices, the
        gateway's count when the upstream sent none, or None when the upstream sent its own."""
        if not self.upstream_sent:
            usage = counted_usage(self.operation, self.body, self.upstream_model, self.parts)
        elif self.split is not None:
            usage = self.split
        else:
            return None
        first = self.first
        # Same id, time, object (`text_completion` for legacy ones) and fingerprint as the
        # chunks before it.
        chunk: dict[str, Any] = {
            "id": first.get("id") or shaping.new_id("chatcmpl-"),
            "object": first.get("object", "chat.completion.chunk"),
            "created": whole_seconds(first.get("created", int(time.time()))),
            "model": model,
        }
        for key in ("service_tier", "system_fingerprint"):
            if key in first:
                chunk[key] = first[key]
        chunk["choices"] = []
        chunk["usage"] = usage
        return chunk


def counted_usage(
    operation: str, body: dict[str, Any], model: str, texts: list[str]
) -> dict[str, int]:
    """Usage the gateway counts: the request's prompt, and `texts` as the completion."""
    prompt = _prompt_tokens(operation, body, model)
    return shaping.usage(prompt, count_text("".join(texts), model))


def choice_texts(choice: Any) -> Iterator[str]:
    """The generated text of a chunk's choice: its legacy `text`, its delta's content and
    refusal, and the names and arguments of its tool calls."""
    if not isinstance(choice, dict):
        return
    if isinstance(choice.get("text"), str):
        yield choice["text"]
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return
    for key in ("content", "refusal"):
        if isinstance(delta.get(key), str):
            yield delta[key]
    for call in delta.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            yield from (str(function[k]) for k in ("name", "arguments") if function.get(k))


def _prompt_tokens(operation: str, body: dict[str, Any], model: str) -> int:
    if operation == "chat":
        return chat_prompt_tokens(body, model)
    prompt = body.get("prompt")
    total = 0
    for item in prompt if isinstance(prompt, list) else [prompt]:
        if isinstance(item, str):
            total += count_text(item, model)
        elif isinstance(item, int):
            total += 1  # one token id of a tokenised prompt
        elif isinstance(item, list):
            total += len(item)  # one tokenised prompt of a batch
    return total


def report_usage(data: bytes, at: int, on_usage: Callable[[dict[str, Any]], None]) -> None:
    """Pass the top-level `usage` of an event with `"usage"` at `at` to `on_usage`, if it has
    one, else that of a vendor extension (`vendor_usage`). A single `"usage": null` is no
    usage, and costs no parse."""
    if _NO_USAGE.match(data, at) and data.find(b'"usage"', at + 7) < 0:
        return
    event = json_object(data)
    if event is None:
        return
    usage = event.get("usage")
    if not isinstance(usage, dict):
        usage = vendor_usage(event)
    if usage:
        on_usage(usage)


def vendor_usage(event: dict[str, Any]) -> dict[str, Any] | None:
    """The usage inside a vendor extension of an event (a top-level `x_…` object), as some
    servers report a stream's usage there (`x_groq.usage`) instead of at the top level: the
    first one that is a CompletionUsage (`completion_usage`), or None."""
    for key, value in event.items():
        if key.startswith("x_") and isinstance(value, dict):
            usage = completion_usage(value.get("usage"))
            if usage is not None:
                return usage
    return None


def completion_usage(usage: Any) -> dict[str, Any] | None:
    """`usage` as the spec's CompletionUsage (its counts, `total_tokens` added when missing,
    and its two details objects), or None when it has no integer `prompt_tokens` and
    `completion_tokens`."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not shaping.is_count(prompt) or not shaping.is_count(completion):
        return None
    total = usage.get("total_tokens")
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total if shaping.is_count(total) else prompt + completion,
    }
    for key in _DETAILS:
        if isinstance(usage.get(key), dict):
            out[key] = usage[key]
    return out


def whole_seconds(created: Any) -> Any:
    """A `created` time as the integer the spec wants: a finite float (some servers send
    fractional seconds) loses its fraction; anything else is kept."""
    if isinstance(created, float) and math.isfinite(created):
        return int(created)
    return created


def json_object(data: bytes) -> dict[str, Any] | None:
    """The JSON object `data` holds, or None when it holds something else or no JSON."""
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def compact(event: dict[str, Any]) -> bytes:
    """An event re-encoded compactly, its text kept as UTF-8."""
    try:
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        # A lone surrogate (`"\ud800"` in the upstream's JSON) has no UTF-8: escape it again.
        return json.dumps(event, separators=(",", ":")).encode()
