"""Mock backend: deterministic answers for offline development and tests."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from app.backends import shaping
from app.backends.base import Backend, Call, Result, Stream
from app.backends.mock import stream, tools
from app.backends.mock.replies import Composer
from app.tokens import count_functions, count_messages


def _chunk_delay(options: Mapping[str, Any]) -> float:
    raw = options.get("chunk_delay") or 0.0
    try:
        delay = float(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"mock backend: chunk_delay must be a number of seconds, not {raw!r}"
        ) from exc
    if not math.isfinite(delay) or delay < 0:
        raise ValueError(f"mock backend: chunk_delay must be >= 0 seconds, not {raw!r}")
    return delay


class MockBackend(Backend):
    """Answers from the last user message; option `chunk_delay`: seconds between stream chunks."""

    def __init__(self, name: str, options: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        super().__init__(name, options, settings)
        self.chunk_delay = _chunk_delay(self.options)

    def chat(self, call: Call) -> Result:
        """A deterministic chat completion, or its stream."""
        body, model = call.body, call.route.upstream_model
        composer = Composer(body, model)
        replies = [composer.reply(index) for index in range(max(1, body.get("n") or 1))]
        prompt_tokens = count_messages(body["messages"], model)
        prompt_tokens += count_functions(tools.declared(body), model)
        completion_tokens = sum(reply.completion_tokens for reply in replies)
        usage = shaping.counted_usage(prompt_tokens, completion_tokens)
        if body.get("stream"):
            chunks = shaping.ChunkFactory(call.model, include_usage=call.wants_usage)
            usage_chunk = usage if call.wants_usage else None
            return Stream(stream.events(chunks, replies, usage_chunk, self.chunk_delay))
        choices = [
            shaping.choice(index, reply.message(), reply.finish_reason, reply.logprobs)
            for index, reply in enumerate(replies)
        ]
        return shaping.chat_completion(call.model, choices, usage)

    def embeddings(self, call: Call) -> dict[str, Any]:
        """Deterministic unit-length vectors (see `app.backends.mock.embeddings`)."""
        from app.backends.mock.embeddings import embed

        return embed(call)
