"""Gemini `streamGenerateContent?alt=sse` events as OpenAI `chat.completion.chunk`s."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from app.backends import translate
from app.backends.base import Call
from app.backends.gemini.errors import gemini_error
from app.backends.gemini.logprobs import candidate_logprobs, top_logprobs
from app.backends.gemini.names import FunctionNames
from app.backends.gemini.response import (
    blocked,
    candidate_index,
    candidates_of,
    finish_reason,
    one_call_only,
    read_parts,
    usage_from,
)
from app.backends.gemini.tools import ThoughtSignatures
from app.backends.shaping import ChunkFactory
from app.backends.sse import RawSSEDecoder, RawSSEEvent
from app.backends.translate import counted_chat_usage
from app.backends.upstream_deadline import first_event_reads
from app.errors import UpstreamError


class StreamTranslator:
    """Turns one upstream stream into chunks: the role first, then text and tool-call deltas
    (`function_call` deltas for legacy `functions`), a finish chunk per choice, and the usage
    chunk last when the client asked for it.

    Each SSE event is a whole GenerateContentResponse holding the next piece of every
    candidate; the last one of a candidate carries its `finishReason`.
    """

    def __init__(
        self, call: Call, signatures: ThoughtSignatures, name: str, secret: str | None = None
    ) -> None:
        self.call = call
        self.signatures = signatures
        self.names = FunctionNames.of(call.body)
        self.legacy = translate.legacy_functions(call.body)
        self.top_logprobs = top_logprobs(call.body)
        self.name = name
        self.secret = secret
        self.chunks = ChunkFactory(call.model, include_usage=call.wants_usage)
        self.started: set[int] = set()
        self.finished: set[int] = set()
        self.tool_counts: dict[int, int] = {}
        self.usage: dict[str, Any] | None = None
        self.text: list[str] = []
        self.calls: list[dict[str, Any]] = []

    def events(
        self,
        raw_chunks: Iterable[bytes],
        deadline: float | None = None,
        wait: Callable[[float | None], bool] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Chunks for the upstream bytes; a cut or an error event raises an APIError.

        Without a first chunk for the client by `deadline` (a `time.monotonic()` value) an
        UpstreamTimeoutError is raised; `wait` (`UpstreamHTTP.wait_until` for the response)
        bounds each read until then (see `upstream_deadline.first_event_reads`).
        """
        if deadline is not None:
            raw_chunks = first_event_reads(self.name, raw_chunks, deadline, wait, self._live)
        decoder = RawSSEDecoder()
        for raw in raw_chunks:
            for event in decoder.feed(raw):
                yield from self._translate(event)
        for event in decoder.flush():
            yield from self._translate(event)
        if not self.started or self.started - self.finished:
            raise UpstreamError(
                f"Upstream `{self.name}` closed the stream before the answer was complete.",
                code="upstream_disconnected",
            )
        if self.call.wants_usage:
            usage = self.usage or counted_chat_usage(self.call, "".join(self.text), self.calls)
            yield self.chunks.usage(usage)

    def _live(self) -> bool:
        """True once the client has its first chunk (a choice's role chunk comes first)."""
        return bool(self.started)

    def _translate(self, event: RawSSEEvent) -> Iterator[dict[str, Any]]:
        if not event.data.strip():
            return
        try:
            payload = json.loads(event.data)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep JSON
            raise UpstreamError(f"Upstream `{self.name}` sent malformed stream data.") from exc
        if not isinstance(payload, dict):
            raise UpstreamError(f"Upstream `{self.name}` sent malformed stream data.")
        if "error" in payload:
            error = payload["error"]
            code = error.get("code") if isinstance(error, dict) else None
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            raise gemini_error(payload, status, {}, self.name, self.secret)
        usage = usage_from(payload.get("usageMetadata"))
        if usage is not None:
            self.usage = usage
        if blocked(payload):
            for index in range(self.call.body.get("n") or 1):
                yield from self._finish(index, "content_filter")
        for position, candidate in enumerate(candidates_of(payload)):
            yield from self._candidate(candidate_index(candidate, position), candidate)

    def _candidate(self, index: int, candidate: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if index in self.finished:
            return
        # Read first: a malformed first event then fails before the client's first chunk,
        # while retries and fallbacks can still run.
        texts, calls = read_parts(candidate, self.signatures, self.names)
        text = "".join(texts)
        # An event's logprobsResult covers the tokens of its text: one delta carries both.
        logprobs = candidate_logprobs(candidate, self.top_logprobs) if text else None
        yield from self._start(index)
        if text:
            self.text.append(text)
            yield self.chunks.content(index, text, logprobs)
        for call in calls:
            position = self.tool_counts.get(index, 0)
            if position and one_call_only(self.call):
                break
            self.tool_counts[index] = position + 1
            self.calls.append(call)
            yield from self._call(index, position, call)
        raw_reason = candidate.get("finishReason")
        if raw_reason:
            reason = finish_reason(raw_reason, self.tool_counts.get(index, 0) > 0, self.legacy)
            yield from self._finish(index, reason)

    def _call(self, index: int, position: int, call: dict[str, Any]) -> Iterator[dict[str, Any]]:
        function = call["function"]
        if self.legacy:
            # As OpenAI streams a legacy call: the name with empty arguments, then the arguments.
            yield self.chunks.function_call(index, name=function["name"])
            yield self.chunks.function_call(index, arguments=function["arguments"])
            return
        yield self.chunks.tool_call(
            index,
            position,
            call_id=call["id"],
            name=function["name"],
            arguments=function["arguments"],
        )

    def _start(self, index: int) -> Iterator[dict[str, Any]]:
        if index not in self.started:
            self.started.add(index)
            yield self.chunks.role(index)

    def _finish(self, index: int, reason: str) -> Iterator[dict[str, Any]]:
        if index in self.finished:
            return
        yield from self._start(index)
        self.finished.add(index)
        yield self.chunks.finish(index, reason)
