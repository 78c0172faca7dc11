"""Mock backend: deterministic answers for offline development and tests."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Iterator
from typing import Any

from app.backends import shaping
from app.backends.base import Backend, Call, Result, Stream
from app.tokens import count_messages, split_tokens

_VOCABULARY = (
    "the gateway answers every request with a deterministic reply so that clients agents "
    "and parsers can be tested offline without any provider key while streaming usage "
    "tools and structured output behave like a real model"
).split()


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """Text of the last user message (text parts joined), or an empty string."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content or [] if p.get("type") == "text")
    return ""


def _rng(call: Call, index: int) -> random.Random:
    text = last_user_text(call.body["messages"])
    seed = call.body.get("seed")
    digest = hashlib.sha256(f"{seed}|{index}|{text}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def reply_text(call: Call, index: int) -> str:
    """The reply for choice `index`: an echo of the prompt followed by seeded filler words."""
    prompt = " ".join(last_user_text(call.body["messages"]).split())
    if len(prompt) > 200:
        prompt = prompt[:200].rstrip() + "..."
    rng = _rng(call, index)
    filler = " ".join(rng.choice(_VOCABULARY) for _ in range(rng.randint(8, 16)))
    return f'This is a mock reply to "{prompt}": {filler}.'


def _apply_limits(text: str, body: dict[str, Any], model: str) -> tuple[list[str], str]:
    """Cut the text at the first stop sequence and at the token limit; return pieces and reason."""
    stops = body.get("stop")
    stops = [stops] if isinstance(stops, str) else list(stops or [])
    reason = "stop"
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    if cut >= 0:
        text = text[:cut]
    pieces = split_tokens(text, model)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit is not None and len(pieces) > limit:
        pieces, reason = pieces[:limit], "length"
    return pieces, reason


class MockBackend(Backend):
    """Answers from the last user message; options: `chunk_delay` (seconds between chunks)."""

    def chat(self, call: Call) -> Result:
        """A deterministic chat completion or stream."""
        answers = [self._answer(call, i) for i in range(call.body.get("n") or 1)]
        prompt_tokens = count_messages(call.body["messages"], call.route.upstream_model)
        if call.body.get("stream"):
            return Stream(self._stream(call, answers, prompt_tokens))
        choices = [
            shaping.choice(i, shaping.message("".join(pieces)), reason)
            for i, (pieces, reason) in enumerate(answers)
        ]
        completion_tokens = sum(len(pieces) for pieces, _ in answers)
        return shaping.chat_completion(
            call.model, choices, shaping.usage(prompt_tokens, completion_tokens)
        )

    def _answer(self, call: Call, index: int) -> tuple[list[str], str]:
        return _apply_limits(reply_text(call, index), call.body, call.route.upstream_model)

    def _stream(
        self, call: Call, answers: list[tuple[list[str], str]], prompt_tokens: int
    ) -> Iterator[dict[str, Any]]:
        delay = float(self.options.get("chunk_delay", 0.0))
        chunks = shaping.ChunkFactory(call.model, include_usage=call.wants_usage)
        for index, (pieces, reason) in enumerate(answers):
            yield chunks.role(index)
            for piece in pieces:
                if delay:
                    time.sleep(delay)
                yield chunks.content(index, piece)
            yield chunks.finish(index, reason)
        if call.wants_usage:
            completion_tokens = sum(len(pieces) for pieces, _ in answers)
            yield chunks.usage(shaping.usage(prompt_tokens, completion_tokens))

    def embeddings(self, call: Call) -> dict[str, Any]:
        """Deterministic unit-length vectors (see `app.backends.mock.embeddings`)."""
        from app.backends.mock.embeddings import embed

        return embed(call)
