"""Relay of an upstream OpenAI stream: event by event, `model` rewritten, `[DONE]` kept."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from app.backends import shaping
from app.backends.sse import RawSSEDecoder, RawSSEEvent
from app.errors import APIError, UpstreamError, UpstreamTimeoutError
from app.tokens import count_messages, count_text

DONE = b"data: [DONE]\n\n"
# The first `"model": "..."` of an event; a JSON string holds no bare quote, so this is a key.
_MODEL = re.compile(rb'"model"\s*:\s*"(?:[^"\\]|\\.)*"')
# An event whose first key is `error`. Some upstreams send `"error": null` in every chunk:
# null and false are told apart here, without parsing the event.
_ERROR = re.compile(rb'\s*\{\s*"error"\s*:(?!\s*(?:null|false)\s*[,}])')


class ModelRewriter:
    """Sets `model` in raw JSON events by splicing bytes, instead of re-encoding each event."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.replacement = b'"model":' + json.dumps(model).encode()

    def __call__(self, data: bytes) -> bytes:
        """`data` with its top-level `model` replaced (untouched when it has none)."""
        match = _MODEL.search(data)
        if match is None:
            return data
        if data.count(b"{", 0, match.start()) != 1:
            # The match may sit in a nested object: take the slow, exact path.
            return self._reencode(data)
        return data[: match.start()] + self.replacement + data[match.end() :]

    def splice(self, data: bytes) -> bytes | None:
        """`data` with its top-level `model` replaced, when that is the first `model` in it."""
        match = _MODEL.search(data)
        if match is None or data.count(b"{", 0, match.start()) != 1:
            return None
        return data[: match.start()] + self.replacement + data[match.end() :]

    def _reencode(self, data: bytes) -> bytes:
        try:
            event = json.loads(data)
        except (ValueError, RecursionError):
            return data
        if not isinstance(event, dict) or "model" not in event:
            return data
        event["model"] = self.model
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


class UsageCounter:
    """Counts a stream's tokens, for a client that asked for usage from an upstream sending none.

    Prompt tokens are counted from the request, completion tokens from the streamed text
    (content, refusal, tool-call names and arguments, or legacy `text`).
    """

    def __init__(self, operation: str, body: dict[str, Any], upstream_model: str) -> None:
        self.operation = operation
        self.body = body
        self.upstream_model = upstream_model
        self.upstream_sent = False
        self.parts: list[str] = []
        # id, created and object as the stream's chunks carry them.
        self.first: dict[str, Any] = {}

    def add(self, data: bytes) -> None:
        """Take note of one relayed event."""
        if self.upstream_sent:
            return
        try:
            event = json.loads(data)
        except (ValueError, RecursionError):
            return
        if not isinstance(event, dict):
            return
        if event.get("usage"):
            self.upstream_sent = True
            return
        for key in ("id", "created", "object"):
            if key in event:
                self.first.setdefault(key, event[key])
        for choice in event.get("choices") or ():
            self.parts.extend(_choice_texts(choice))

    def usage_chunk(self, model: str) -> dict[str, Any] | None:
        """The final usage chunk for `model`, or None when the upstream sent its own usage."""
        if self.upstream_sent:
            return None
        prompt = _prompt_tokens(self.operation, self.body, self.upstream_model)
        usage = shaping.usage(prompt, count_text("".join(self.parts), self.upstream_model))
        chunk = shaping.ChunkFactory(model, completion_id=self.first.get("id")).usage(usage)
        # Same id, time and object as the chunks before it (`text_completion` for legacy ones).
        chunk["created"] = self.first.get("created", chunk["created"])
        chunk["object"] = self.first.get("object", chunk["object"])
        return chunk


def _choice_texts(choice: Any) -> Iterator[str]:
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
        return count_messages(body.get("messages") or [], model)
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


def relay(
    name: str,
    chunks: Iterable[bytes],
    rewrite: ModelRewriter,
    on_error: Callable[[bytes], APIError],
    counter: UsageCounter | None = None,
    deadline: float | None = None,
    finish: Callable[[Iterator[bytes]], None] | None = None,
) -> Iterator[bytes]:
    """Yield the complete upstream events of each read as SSE bytes, ending with `[DONE]`.

    A stream that ends before `[DONE]` (cut mid-event or not) raises an UpstreamError; an
    error event from the upstream raises the error it describes, an event that is not a
    JSON object an UpstreamError (invalid UTF-8 is replaced instead). Without a first event
    by `deadline` (a `time.monotonic()` value) an UpstreamTimeoutError is raised. After
    `[DONE]`, `finish` gets what is left of the reads (normally just the end of the body),
    to read it at once or drop the connection (`UpstreamHTTP.finish`); without one it is
    left unread.
    """
    decoder = RawSSEDecoder()
    reads = iter(chunks)
    # One flat loop, run for every event of every stream; None marks the end of the body.
    for chunk in itertools.chain(reads, (None,)):
        if chunk is None:
            events = decoder.flush()
        else:
            events = decoder.feed(chunk)
            if deadline is not None:
                # Only the first event has a deadline; a live stream may take its time.
                if events:
                    deadline = None
                elif time.monotonic() > deadline:
                    raise UpstreamTimeoutError(
                        f"Upstream `{name}` did not send the first event of its stream in time.",
                        retryable=True,
                    )
        if events:
            out, end, done = _encode(name, events, rewrite, on_error, counter)
            if out:
                yield out
            if end is not None:
                raise end
            if done:
                (finish or _leave)(reads)
                return
    raise UpstreamError(
        f"Upstream `{name}` ended the stream before it was complete.",
        code="upstream_stream_incomplete",
        retryable=True,
    )


def _encode(
    name: str,
    events: list[RawSSEEvent],
    rewrite: ModelRewriter,
    on_error: Callable[[bytes], APIError],
    counter: UsageCounter | None,
) -> tuple[bytes, APIError | None, bool]:
    """The SSE bytes of `events` up to `[DONE]` included, the error that ends them if any, and
    whether `[DONE]` was among them."""
    out: list[bytes] = []
    for event in events:
        data = event.data
        if data == b"[DONE]":
            usage = counter.usage_chunk(rewrite.model) if counter is not None else None
            if usage is not None:
                out.append(b"data: " + json.dumps(usage, separators=(",", ":")).encode())
                out.append(b"\n\n")
            out.append(DONE)
            return b"".join(out), None, True
        if event.event == b"error" or (_ERROR.match(data) and _is_error(data)):
            return b"".join(out), on_error(data), False
        try:
            data = _checked(name, data)
        except UpstreamError as exc:
            return b"".join(out), exc, False
        if counter is not None:
            counter.add(data)
        data = rewrite(data)
        if b"\n" in data:
            # An event sent as several `data:` lines, joined by the decoder: each line needs
            # its prefix again, and the client joins them back the same way.
            data = data.replace(b"\n", b"\ndata: ")
        out += (b"data: ", data, b"\n\n")
    return b"".join(out), None, False


def _is_error(data: bytes) -> bool:
    """True when an event starting with an `error` key is an error: that key is set (truthy).

    The non-stream path reads an answer the same way, so `""`, `{}` or `0` are no errors.
    """
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):
        return True  # garbled, but it says error: its text is passed on as the message
    return not isinstance(event, dict) or bool(event.get("error"))


def _leave(reads: Iterator[bytes]) -> None:
    """What follows `[DONE]` stays unread when `relay` was given no `finish`."""


def _checked(name: str, data: bytes) -> bytes:
    """An event's data as one JSON object in valid UTF-8, or an UpstreamError."""
    if not data.isascii():
        try:
            data.decode()
        except UnicodeDecodeError:
            # Bad bytes in one token must not break the client's decoder or end the answer.
            data = data.decode("utf-8", "replace").encode()
    # A full parse costs more than the relay itself: only events that do not look like an
    # object are parsed, to tell unusual spacing from garbage.
    if data[:1] == b"{" and data[-1:] == b"}":
        return data
    try:
        if isinstance(json.loads(data), dict):
            return data
    except (ValueError, RecursionError):
        pass
    raise UpstreamError(
        f"Upstream `{name}` sent a stream event that is not a JSON object.",
        code="upstream_bad_response",
        retryable=True,
    )
