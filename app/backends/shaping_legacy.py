"""Builders for legacy `text_completion` objects and their stream chunks."""

from __future__ import annotations

import time
from typing import Any

from app.backends import shaping
from app.backends.shaping import envelope, new_id
from app.tokens import count_text

# Chat finish reasons that have no legacy equivalent end the text normally.
_FINISH_REASONS = {"stop", "length", "content_filter"}


def finish_reason(reason: str | None) -> str:
    """A chat `finish_reason` as a completion one (`stop`, `length` or `content_filter`)."""
    return reason if reason in _FINISH_REASONS else "stop"


def text_choice(
    index: int, text: str, reason: str | None, logprobs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One `choices[]` item of a text_completion (`logprobs` null unless given)."""
    return {"text": text, "index": index, "logprobs": logprobs, "finish_reason": reason}


def text_logprobs(chat_logprobs: Any, offset: int = 0) -> dict[str, Any] | None:
    """A chat choice's `logprobs` in the legacy shape: its tokens, their log probabilities, the
    most likely alternatives of each and where each starts (`offset` is where the first does:
    OpenAI counts from the start of the prompt); None when the chat answer has none."""
    items = chat_logprobs.get("content") if isinstance(chat_logprobs, dict) else None
    if not isinstance(items, list):
        return None
    legacy: dict[str, list[Any]] = {
        "tokens": [],
        "token_logprobs": [],
        "top_logprobs": [],
        "text_offset": [],
    }
    for item in items:
        token = str(item.get("token") or "")
        legacy["tokens"].append(token)
        legacy["token_logprobs"].append(item.get("logprob"))
        top = item.get("top_logprobs") or []
        legacy["top_logprobs"].append({t.get("token"): t.get("logprob") for t in top})
        legacy["text_offset"].append(offset)
        offset += len(token)
    return legacy


def text_completion(
    model: str,
    choices: list[dict[str, Any]],
    usage_obj: dict[str, int] | None,
    *,
    completion_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """A complete `text_completion` object."""
    return envelope(
        "text_completion",
        "cmpl-",
        model,
        choices,
        usage_obj,
        completion_id=completion_id,
        created=created,
    )


class TextChunkFactory:
    """Makes streamed `text_completion` chunks that share one id, `created` and model.

    Streamed and complete objects have the same shape in the legacy API, so a chunk carries
    `usage` only in the final usage chunk (the spec has no null usage here).
    """

    def __init__(self, model: str, *, completion_id: str | None = None) -> None:
        self.model = model
        self.id = completion_id or new_id("cmpl-")
        self.created = int(time.time())

    def chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        """A chunk with the given choices."""
        return text_completion(
            self.model, choices, None, completion_id=self.id, created=self.created
        )

    def text(
        self,
        index: int,
        text: str,
        reason: str | None = None,
        logprobs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A chunk carrying a piece of one choice's text (and its finish_reason on the last)."""
        return self.chunk([text_choice(index, text, reason, logprobs)])

    def usage(self, usage_obj: dict[str, int]) -> dict[str, Any]:
        """The final usage chunk: empty `choices` and the usage totals."""
        body = self.chunk([])
        body["usage"] = usage_obj
        return body


class TokenPrompt(str):
    """A prompt the client sent as token ids, decoded to text: it bills as the ids sent."""

    tokens: int

    def __new__(cls, text: str, tokens: int) -> TokenPrompt:
        prompt = super().__new__(cls, text)
        prompt.tokens = tokens
        return prompt


def prompt_tokens(prompt: str, model: str) -> int:
    """The tokens a legacy prompt bills: its ids when it came as ids, else its text counted."""
    # Decoded ids counted again as text can differ (`<|endoftext|>` is one id, seven as text).
    return prompt.tokens if isinstance(prompt, TokenPrompt) else count_text(prompt, model)


def estimated_usage(prompt: str, texts: list[str], model: str) -> dict[str, int]:
    """Usage counted locally, for a chat answer that did not report its own."""
    completion_tokens = sum(count_text(text, model) for text in texts)
    return shaping.usage(prompt_tokens(prompt, model), completion_tokens)


def prompt_usage(
    reported: dict[str, Any] | None, prompt: str, texts: list[str], model: str
) -> dict[str, int]:
    """One prompt's usage: the chat answer's own, else counted here.

    A chat usage the gateway counted itself (`shaping.CountedUsage`) has its prompt counted
    again as the prompt's own text, as the completions endpoint bills it, rather than as the
    chat message (with its framing) the backend was sent; a provider's own usage is kept.
    """
    usage = reported or estimated_usage(prompt, texts, model)
    if not isinstance(usage, shaping.CountedUsage):
        return usage
    return shaping.usage(prompt_tokens(prompt, model), int(usage.get("completion_tokens") or 0))


def add_usage(total: dict[str, int] | None, part: dict[str, Any]) -> dict[str, int]:
    """`total` plus the token counts of `part` (a chat usage object)."""
    total = total or shaping.usage(0, 0)
    return shaping.usage(
        total["prompt_tokens"] + int(part.get("prompt_tokens") or 0),
        total["completion_tokens"] + int(part.get("completion_tokens") or 0),
    )
