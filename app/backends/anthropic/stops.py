"""Stop sequences Anthropic refuses (whitespace only), applied by the gateway to the answer text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.backends.translate import stop_sequences


def split_stops(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The request's stop sequences as (sent upstream, applied by the gateway).

    Anthropic answers 400 "each stop sequence must contain non-whitespace" for whitespace-only
    ones (`"\\n"`, `" "`), so those stay in the gateway; the others go upstream as
    `stop_sequences` (request.py).
    """
    upstream: list[str] = []
    local: list[str] = []
    for stop in stop_sequences(body):
        (upstream if stop.strip() else local).append(stop)
    return upstream, local


class StopScanner:
    """Finds the earliest of some stop sequences in text that arrives piece by piece.

    `feed` returns the text that can safely go out; it holds back only the end that could
    still be the start of a stop sequence. After a match `matched` names it and the text from
    the match on is dropped.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stop for stop in stops if stop)
        self.held = ""
        self.matched: str | None = None

    def feed(self, text: str) -> str:
        """The part of `held + text` before any stop sequence, or before a possible one."""
        if self.matched is not None:
            return ""
        if not self.stops:
            return text
        pending = self.held + text
        found = [(pending.find(stop), stop) for stop in self.stops]
        hits = [(at, stop) for at, stop in found if at >= 0]
        if hits:
            at, self.matched = min(hits)
            self.held = ""
            return pending[:at]
        keep = self._possible_start(pending)
        self.held = pending[len(pending) - keep :] if keep else ""
        return pending[: len(pending) - keep]

    def flush(self) -> str:
        """The text held back: what comes next cannot complete a stop sequence with it."""
        held, self.held = self.held, ""
        return held

    def _possible_start(self, text: str) -> int:
        """Length of the longest end of `text` that begins some stop sequence."""
        longest = max(len(stop) for stop in self.stops) - 1
        for size in range(min(longest, len(text)), 0, -1):
            tail = text[-size:]
            if any(stop.startswith(tail) for stop in self.stops):
                return size
        return 0


def cut_message(message: dict[str, Any], stops: Sequence[str]) -> dict[str, Any]:
    """The Message ended at the earliest stop sequence in its text, as a stream would end it.

    Text blocks are scanned in order; a `tool_use` block in between breaks a match (its output
    is never scanned). At a match the text before it is kept, everything after it (tool calls
    included) is dropped and the stop reason becomes `stop_sequence`, or `tool_use` when a
    tool call came before the match (the client still has to run it).
    """
    blocks = message.get("content")
    if not stops or not isinstance(blocks, list):
        return message
    scanner = StopScanner(stops)
    kept: list[Any] = []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            _add_text(kept, scanner.feed(block.get("text") or ""))
            if scanner.matched is not None:
                called = any(isinstance(b, dict) and b.get("type") == "tool_use" for b in kept)
                return {
                    **message,
                    "content": kept,
                    "stop_reason": "tool_use" if called else "stop_sequence",
                    "stop_sequence": scanner.matched,
                }
        else:
            if kind == "tool_use":
                _add_text(kept, scanner.flush())
            kept.append(block)
    # No match: the text the client gets is exactly the Message's own.
    return message


def _add_text(blocks: list[Any], text: str) -> None:
    # Released text joins the last text block: the client gets the blocks' texts joined anyway.
    if not text:
        return
    last = blocks[-1] if blocks else None
    if isinstance(last, dict) and last.get("type") == "text":
        blocks[-1] = {**last, "text": (last.get("text") or "") + text}
    else:
        blocks.append({"type": "text", "text": text})
