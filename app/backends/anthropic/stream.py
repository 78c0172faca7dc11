"""Anthropic streaming events → OpenAI `chat.completion.chunk`s."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from app.backends.anthropic.errors import event_error
from app.backends.anthropic.response import (
    completion_id,
    finish_reason,
    prompt_tokens,
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
    streams as content. The role chunk goes out just before the first real chunk, so that an
    error before any content still fails the whole request (retried, or sent to a fallback).
    `stops` are stop sequences the gateway applies itself to the text (stops.split_stops).
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
    ) -> None:
        self.name = name
        # The provider key, never to be echoed in an error event.
        self.secret = secret
        self.model = model
        self.include_usage = include_usage
        self.answer_tool = answer_tool
        self.chunks: ChunkFactory | None = None
        self.blocks: dict[int, _Block] = {}
        self.tool_calls = 0
        self.stop_reason: str | None = None
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
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise UpstreamError(f"Upstream `{self.name}` sent an event that is not JSON.")
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
        message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
        self._add_usage(message.get("usage"))
        self._factory(message.get("id"))
        # The role chunk waits for the first real one (translate).
        return iter(())

    def _add_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            # message_delta repeats the counts cumulatively; the latest value of each wins.
            self.usage.update({k: v for k, v in usage.items() if isinstance(v, int)})

    def _block_start(self, payload: dict[str, Any]) -> Iterator[Chunk]:
        chunks = self._factory()
        block = payload.get("content_block") or {}
        index = payload.get("index")
        kind = block.get("type")
        if kind == "text":
            self.blocks[index] = _Block("text")
            if block.get("text"):
                yield from self._text(block["text"])
        elif kind == "tool_use" and block.get("name") == self.answer_tool:
            self.blocks[index] = _Block("answer")
            yield from self._release()
        elif kind == "tool_use":
            self.blocks[index] = _Block("tool", self.tool_calls)
            self.tool_calls += 1
            yield from self._release()
            yield chunks.tool_call(
                0, self.blocks[index].tool_index, call_id=block.get("id"), name=block.get("name")
            )
        else:
            # thinking and server-side tool blocks have no OpenAI counterpart.
            self.blocks[index] = _Block("skip")

    def _block_delta(self, payload: dict[str, Any]) -> Iterator[Chunk]:
        chunks = self._factory()
        block = self.blocks.get(payload.get("index"), _Block("skip"))
        delta = payload.get("delta") or {}
        if block.kind == "text" and delta.get("type") == "text_delta" and delta.get("text"):
            yield from self._text(delta["text"])
        elif delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            block.has_input = True
            if block.kind == "tool":
                yield chunks.tool_call(0, block.tool_index, arguments=delta["partial_json"])
            elif block.kind == "answer":
                yield chunks.content(0, delta["partial_json"])

    def _block_stop(self, payload: dict[str, Any]) -> Iterator[Chunk]:
        block = self.blocks.get(payload.get("index"), _Block("skip"))
        # A tool called without arguments streams no JSON at all; clients still need an object.
        if block.kind == "tool" and not block.has_input:
            yield self._factory().tool_call(0, block.tool_index, arguments="{}")
        elif block.kind == "answer" and not block.has_input:
            yield self._factory().content(0, "{}")

    def _message_delta(self, payload: dict[str, Any]) -> Iterator[Chunk]:
        delta = payload.get("delta") or {}
        if delta.get("stop_reason"):
            self.stop_reason = delta["stop_reason"]
        self._add_usage(payload.get("usage"))
        return iter(())

    def _message_stop(self, payload: dict[str, Any]) -> Iterator[Chunk]:
        yield from self._release()
        yield from self._finish(finish_reason(self.stop_reason, self.tool_calls > 0))

    def _text(self, text: str) -> Iterator[Chunk]:
        """Text content, up to a stop sequence the gateway applies; at one the answer ends."""
        released = self.scanner.feed(text)
        if released:
            yield self._factory().content(0, released)
        if self.scanner.matched is not None:
            # Anthropic is still generating; the rest is dropped and the upstream closed. Tool
            # calls sent before the stop still ask the client to run them.
            yield from self._finish("tool_calls" if self.tool_calls else "stop")

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
            prompt, cached = prompt_tokens(self.usage)
            completion = int(self.usage.get("output_tokens", 0))
            yield chunks.usage(usage_object(prompt, cached, completion))
