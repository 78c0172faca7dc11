"""Conversations that end with an assistant turn, for models that refuse a prefill.

Anthropic takes a final assistant turn as the start of the answer (a prefill). Claude 4.6 and
later models refuse it with a 400 ("This model does not support assistant message prefill. The
conversation must end with a user message."), while OpenAI clients (agent frameworks, memory
layers) send such conversations and expect a new assistant message after them. For those
models the turn is kept as history and a short user turn follows it.
"""

from __future__ import annotations

import re
from typing import Any

from app.errors import APIError

CONTINUE = "(continue)"
# Models learned to refuse a prefill, per worker; bounded, as a pattern route passes any name.
MAX_MODELS = 1000
_REFUSAL = re.compile(r"prefill", re.IGNORECASE)


class PrefillPolicy:
    """Which upstream models refuse a prefill, learned from their first refusal."""

    def __init__(self) -> None:
        self.refusing: set[str] = set()

    def payload(self, payload: dict[str, Any], model: str) -> dict[str, Any]:
        """`payload` as the model takes it: with the user turn after a final assistant turn
        when the model is known to refuse a prefill."""
        return without_prefill(payload) if model in self.refusing else payload

    def retry(self, payload: dict[str, Any], model: str, error: APIError) -> dict[str, Any] | None:
        """The payload to send again when `error` is the model refusing `payload`'s prefill
        (the model is remembered); None when the error is another one."""
        if (
            error.status != 400
            or not _REFUSAL.search(error.message)
            or not ends_in_prefill(payload)
        ):
            return None
        if len(self.refusing) < MAX_MODELS:
            self.refusing.add(model)
        return without_prefill(payload)


def ends_in_prefill(payload: dict[str, Any]) -> bool:
    """True when the Messages request ends with an assistant turn."""
    messages = payload.get("messages") or []
    return bool(messages) and messages[-1].get("role") == "assistant"


def without_prefill(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` with a user turn after its final assistant turn (unchanged without one)."""
    if not ends_in_prefill(payload):
        return payload
    turn = {"role": "user", "content": [{"type": "text", "text": CONTINUE}]}
    return {**payload, "messages": [*payload["messages"], turn]}


def end_with_user_turn(payload: dict[str, Any]) -> None:
    """Put the user turn after a final assistant turn of `payload` in place, for requests that
    refuse a prefill whatever the model (thinking, structured outputs)."""
    payload["messages"] = without_prefill(payload)["messages"]
