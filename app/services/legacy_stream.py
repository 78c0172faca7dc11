"""Chat completion streams translated into a legacy `text_completion` stream."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from typing import Any

from app.backends.base import Call, Result, Stream
from app.backends.shaping_legacy import (
    TextChunkFactory,
    add_usage,
    finish_reason,
    prompt_usage,
    text_logprobs,
)
from app.backends.sse import SSEDecoder
from app.errors import UpstreamError


class _Open:
    """The chat stream being read right now, so that closing the legacy stream reaches it."""

    def __init__(self) -> None:
        self.stream: Stream | None = None

    def set(self, stream: Stream) -> Stream:
        self.stream = stream
        return stream

    def close(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.close()


def _as_stream(result: Result) -> Stream:
    if isinstance(result, Stream):
        return result
    raise UpstreamError("The backend answered a streamed request without streaming.")


def chat_chunks(stream: Stream) -> Iterator[dict[str, Any]]:
    """The chunk dicts of a chat stream, whether it yields dicts or raw SSE bytes."""
    decoder = SSEDecoder()
    for event in stream.events:
        if isinstance(event, dict):
            yield event
            continue
        for sse in decoder.feed(event):
            if sse.data.strip() == "[DONE]":
                continue
            try:
                chunk = json.loads(sse.data)
            except ValueError as exc:
                raise UpstreamError("The upstream sent a malformed stream event.") from exc
            if isinstance(chunk, dict) and isinstance(chunk.get("error"), dict):
                error = chunk["error"]
                raise UpstreamError(
                    str(error.get("message") or "The upstream stream failed."),
                    type=error.get("type") or "server_error",
                    code=error.get("code"),
                    param=error.get("param"),
                )
            if isinstance(chunk, dict):
                yield chunk


def text_stream(
    call: Call,
    prompts: list[str],
    n: int,
    ask: Callable[[str], Result],
) -> Stream:
    """The legacy stream for `prompts`, reading one chat stream per prompt in turn.

    The first chat request is made here, so that its failures are still plain JSON errors
    (and may be retried); later prompts start when the previous one has finished.
    """
    chunks = TextChunkFactory(call.model)
    current = _Open()
    first = current.set(_as_stream(ask(prompts[0])))

    def events() -> Iterator[dict[str, Any]]:
        usage = None
        try:
            for p, prompt in enumerate(prompts):
                stream = first if p == 0 else current.set(_as_stream(ask(prompt)))
                part = yield from _translate(call, chunks, stream, p * n, n, prompt)
                if part is not None:
                    usage = add_usage(usage, part)
                current.close()
            if call.wants_usage:
                yield chunks.usage(usage)
        finally:
            current.close()

    return Stream(events(), close=current.close, headers=dict(first.headers))


def _translate(
    call: Call,
    chunks: TextChunkFactory,
    stream: Stream,
    base: int,
    n: int,
    prompt: str,
) -> Generator[dict[str, Any], None, dict[str, Any] | None]:
    """Yield one prompt's text chunks; return its usage when the client asked for it."""
    if call.body.get("echo") and prompt:
        for i in range(n):
            yield chunks.text(base + i, prompt)
    texts: dict[int, list[str]] = {}
    # Where each choice's next text starts: logprobs offsets count from the start of the
    # prompt, as in a complete answer.
    offsets: dict[int, int] = {}
    usage = None
    for chunk in chat_chunks(stream):
        if chunk.get("usage"):
            usage = chunk["usage"]
        for item in chunk.get("choices") or []:
            index = base + int(item.get("index", 0))
            text = (item.get("delta") or {}).get("content") or ""
            reason = item.get("finish_reason")
            logprobs = text_logprobs(item.get("logprobs"), offsets.get(index, len(prompt)))
            offsets[index] = offsets.get(index, len(prompt)) + len(text)
            texts.setdefault(index, []).append(text)
            if text or reason:
                reason = finish_reason(reason) if reason else None
                yield chunks.text(index, text, reason, logprobs)
    if usage is None and not call.wants_usage:
        return None
    texts_of_prompt = ["".join(t) for t in texts.values()]
    return prompt_usage(usage, prompt, texts_of_prompt, call.route.upstream_model)
