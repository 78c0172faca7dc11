"""Anthropic streaming events → OpenAI `chat.completion.chunk`s."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from app.backends import shaping
from app.backends.anthropic.errors import event_error
from app.backends.anthropic.response import (
    called,
    completion_id,
    finish_reason,
    is_count,
    malformed,
    tool_use_fields,
    usage_object,
)
from app.backends.anthropic.stops import StopScanner
from app.backends.shaping import ChunkFactory
from app.backends.sse import iter_sse
from app.backends.upstream_deadline import first_event_reads
from app.errors import UpstreamError

Chunk = dict[str, Any]


@dataclass
class _Block:
    """What one Anthropic content block turns into: text, a tool call, the answer, or nothing."""

    kind: str
    tool_index: int = -1
    has_input: bool = False


class StreamTranslator:
    """Turns one Anthropic event stream into chunks.

    Tool calls are numbered 0, 1, … in the order their `tool_use` blocks start (Anthropic's
    block index also counts text blocks). A `tool_use` block of the `json_schema` answer tool
    streams as content. With `legacy` (the deprecated `functions`) the first tool call streams
    as `function_call` deltas and any further one is left out, as OpenAI's legacy answer holds
    a single call. The role chunk goes out just before the first real chunk, so that an
    error before any content still fails the whole request (retried, or sent to a fallback).
    `stops` are stop sequences the gateway applies itself to the text (stops.split_stops).
    `on_event` sees every parsed event once it is handled (thinking_memory.StreamThinking).
    """

    def __init__(
        self,
        name: str,
        model: str,
        *,
        include_usage: bool,
        answer_tool: str | None = None,
        secret: str | None = None,
        stops: Sequence[str] = (),
        legacy: bool = False,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.name = name
        self.on_event = on_event
        # The provider key, never to be echoed in an error event.
        self.secret = secret
        self.model = model
        self.include_usage = include_usage
        self.answer_tool = answer_tool
        self.legacy = legacy
        self.chunks: ChunkFactory | None = None
        self.blocks: dict[int, _Block] = {}
        self.tool_calls = 0
        self.stop_reason: Any = None
        self.usage: dict[str, Any] = {}
        self.done = False
        self.started = False
        self.scanner = StopScanner(stops)

    def translate(
        self,
        raw: Iterable[bytes],
        deadline: float | None = None,
        wait: Callable[[float | None], bool] | None = None,
    ) -> Iterator[Chunk]:
        """Chunks for the raw upstream bytes; upstream errors and cut streams raise APIError.

        Without a first chunk for the client by `deadline` (a `time.monotonic()` value) an
        UpstreamTimeoutError is raised: `ping`s and `message_start` give the client nothing
        (the role chunk waits for the first real one), yet would keep the read timeout from
        firing. `wait` (`UpstreamHTTP.wait_until` for the response) bounds each read until then
        (see `upstream_deadline.first_event_reads`).
        """
        if deadline is not None:
            raw = first_event_reads(self.name, raw, deadline, wait, self._live)
        handlers = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "content_block_stop": self._block_stop,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
        }
        for event in iter_sse(raw):
            payload = self._parse(event.data)
            kind = payload.get("type") or event.event
            if kind == "error":
                raise event_error(self.name, payload, self.secret)
            # `ping` and event types added to the API later carry nothing to pass on.
            handler = handlers.get(kind)
            if handler is not None:
                for chunk in handler(payload):
                    if not self.started:
                        self.started = True
                        yield self._factory().role()
                    yield chunk
            if self.on_event is not None:
                self.on_event(payload)
            if self.done:
                return
        raise UpstreamError(
            f"Upstream `{self.name}` closed the stream before the answer was complete.",
            retryable=True,
        )

    def _live(self) -> bool:
        """True once the client has its first chunk: the stream may take its time from then."""
        return self.started

    def _parse(self, data: str) -> dict[str, Any]:
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep JSON
            payload = None
        if not isinstance(payload, dict):
            raise UpstreamError(
                f"Upstream `{self.name}` sent an event that is not JSON.",
                code="upstream_bad_response",
            )
        return payload

    def _factory(self, message_id: Any = None) -> ChunkFactory:
        if self.chunks is None:
            self.chunks = ChunkFactory(
                self.model,
                include_usage=self.include_usage,
                completion_id=completion_id(message_id),
            )
        return self.chunks

    def _message_start(self, payload: dict[str, Any]) -> Iterator[Chunk]:
        message = _field(payload, "message")
        self._add_usage(message.get("usage"))
        self._factory(message.get("id"))
        # The role chunk waits for the first real one (translate).
        return iter(())

    def _add_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            # message_delta repeats the counts cumulatively; the latest value of each wins, but
            # a later null (or a value of another kind) does not erase reported details.
            self.usage.update(
                {
                    k: v
                    for k, v in usage.items()
                    if is_count(v) or (k == "output_tokens_details" and isinstance(v, dict))
                }
            )

    def _block_start(self, payload: dict[str, Any]) -> Iterator[Chunk]:
        block = _field(payload, "content_block")
        index = _index(payload)
        kind = block.get("type")
        if kind == "text":
            self.blocks[index] = _Block("text")
            if not isinstance(block.get("text"), str | None):
                raise malformed()
            if block.get("text"):
                yield from self._text(block["text"])
        elif kind == "tool_use":
            call_id, name = tool_use_fields(block)
            yield from self._release()
            if name == self.answer_tool:
                self.blocks[index] = _Block("answer")
                return
            if self.legacy and self.tool_calls:
                self.blocks[index] = _Block("skip")
                return
            self.blocks[index] = _Block("tool", self.tool_calls)
            self.tool_calls += 1
            # As in a plain answer: a call without an id gets one (clients match results by it).
            call_id = call_id or shaping.new_id("call_")
            yield self._call(self.blocks[index], call_id=call_id, name=name)
        else:
            # thinking and server-side tool blocks have no OpenAI counterpart.
            self.blocks[index] = _Block("skip")

    def _block_delta(self, payload: dict[str, Any]) -> Iterator[Chunk]:
        chunks = self._factory()
        block = self.blocks.get(_index(payload), _Block("skip"))
        delta = _field(payload, "delta")
        kind = delta.get("type")
        if kind in ("text_delta", "input_json_delta"):
            key = "text" if kind == "text_delta" else "partial_json"
            if not isinstance(delta.get(key), str):
                raise malformed()
        if block.kind == "text" and kind == "text_delta" and delta["text"]:
            yield from self._text(delta["text"])
        elif kind == "input_json_delta" and delta["partial_json"]:
            block.has_input = True
            if block.kind == "tool":
                yield self._call(block, delta["partial_json"])
            elif block.kind == "answer":
                yield chunks.content(0, delta["partial_json"])

    def _block_stop(self, payload: dict[str, Any]) -> Iterator[Chunk]:
        block = self.blocks.get(_index(payload), _Block("skip"))
        # A tool called without arguments streams no JSON at all; clients still need an object.
        if block.kind == "tool" and not block.has_input:
            yield self._call(block, "{}")
        elif block.kind == "answer" and not block.has_input:
            yield self._factory().content(0, "{}")

    def _message_delta(self, payload: dict[str, Any]) -> Iterator[Chunk]:
        delta = _field(payload, "delta")
        if delta.get("stop_reason"):
            # finish_reason reads a reason of the wrong type as a normal end.
            self.stop_reason = delta["stop_reason"]
        self._add_usage(payload.get("usage"))
        return iter(())

    def _message_stop(self, payload: dict[str, Any]) -> Iterator[Chunk]:
        yield from self._release()
        yield from self._finish(finish_reason(self.stop_reason, self.tool_calls > 0, self.legacy))

    def _call(
        self,
        block: _Block,
        arguments: str = "",
        call_id: str | None = None,
        name: str | None = None,
    ) -> Chunk:
        """A delta of the block's tool call: a `function_call` delta in the legacy shape."""
        if self.legacy:
            return self._factory().function_call(0, name=name, arguments=arguments)
        return self._factory().tool_call(
            0, block.tool_index, call_id=call_id, name=name, arguments=arguments
        )

    def _text(self, text: str) -> Iterator[Chunk]:
        """Text content, up to a stop sequence the gateway applies; at one the answer ends."""
        released = self.scanner.feed(text)
        if released:
            yield self._factory().content(0, released)
        if self.scanner.matched is not None:
            # Anthropic is still generating; the rest is dropped and the upstream closed. Tool
            # calls sent before the stop still ask the client to run them.
            yield from self._finish(
                called("tool_calls", self.legacy) if self.tool_calls else "stop"
            )

    def _release(self) -> Iterator[Chunk]:
        """Text held back for a possible stop sequence, before a chunk of another kind."""
        held = self.scanner.flush()
        if held:
            yield self._factory().content(0, held)

    def _finish(self, reason: str) -> Iterator[Chunk]:
        chunks = self._factory()
        self.done = True
        yield chunks.finish(0, reason)
        if self.include_usage:
            yield chunks.usage(usage_object(self.usage))


def _field(payload: dict[str, Any], name: str) -> dict[str, Any]:
    """The object an event carries under `name`; anything else is malformed."""
    value = payload.get(name)
    if not isinstance(value, dict):
        raise malformed()
    return value


def _index(payload: dict[str, Any]) -> int:
    """The content block index of a block event; anything but an integer is malformed."""
    index = payload.get("index")
    if isinstance(index, bool) or not isinstance(index, int):
        raise malformed()
    return index
