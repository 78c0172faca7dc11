"""Thinking blocks of answers that called tools, kept per worker to go back with the results.

With thinking on, Anthropic wants the assistant turn that made tool calls to start with the
`thinking` / `redacted_thinking` blocks of its answer, unmodified, when the conversation goes
on with the tool results. OpenAI clients only echo the tool call ids, so the gateway keeps the
blocks by the ids the client received (bounded in ids and in bytes) and puts them back first in
that turn while it is in progress; earlier turns get none.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from app.backends.anthropic.messages import tool_id
from app.backends.anthropic.thinking import drop_thinking

THINKING_TYPES = ("thinking", "redacted_thinking")
# Thinking deltas of a stream → the field of the block they extend.
_DELTA_FIELDS = {"thinking_delta": "thinking", "signature_delta": "signature"}
# Tool call ids kept, and the bytes their blocks may take, per backend and worker: a thinking
# block can run to hundreds of kilobytes (adaptive thinking has no budget).
MAX_CALLS = 1024
MAX_BYTES = 16 * 1024 * 1024

Block = dict[str, Any]


@dataclass(eq=False)
class _Answer:
    """The thinking blocks of one answer, shared by its tool calls, and the bytes they take."""

    blocks: tuple[Block, ...]
    size: int
    calls: int = 0


class ThinkingMemory:
    """Recent answers' thinking blocks by the tool call ids the client received, bounded by
    `limit` ids and `max_bytes` of blocks; the least recently used go first.

    A worker keeps its own; blocks that are gone (another worker, a restart, a history from
    another provider) are simply not found.
    """

    def __init__(self, limit: int = MAX_CALLS, max_bytes: int = MAX_BYTES) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        # Bytes of the answers kept, each counted once however many calls share it.
        self.size = 0
        self._items: OrderedDict[str, _Answer] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, call_ids: Iterable[str], blocks: Sequence[Block]) -> None:
        """Keep `blocks` for every one of the answer's tool calls (nothing without blocks, or
        when they alone take more than the whole budget)."""
        answer = _Answer(tuple(blocks), _size(blocks))
        if not answer.blocks or answer.size > self.max_bytes:
            return
        with self._lock:
            for call_id in call_ids:
                self._drop(call_id)
                self._items[call_id] = answer
                answer.calls += 1
                if answer.calls == 1:
                    self.size += answer.size
            while len(self._items) > self.limit or self.size > self.max_bytes:
                self._drop(next(iter(self._items)))

    def get(self, call_id: str) -> tuple[Block, ...] | None:
        """The blocks of the answer that made the tool call `call_id`, if still kept (it is
        then the most recently used)."""
        with self._lock:
            answer = self._items.get(call_id)
            if answer is None:
                return None
            self._items.move_to_end(call_id)
            return answer.blocks

    def _drop(self, call_id: str) -> None:
        answer = self._items.pop(call_id, None)
        if answer is not None:
            answer.calls -= 1
            if answer.calls == 0:
                self.size -= answer.size


def _size(blocks: Sequence[Block]) -> int:
    """The bytes the strings of `blocks` take, which is nearly all of their memory."""
    size, pending = 0, list(blocks)
    # A stack rather than recursion: the blocks come from upstream, nested as it pleases.
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            size += sys.getsizeof(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list | tuple):
            pending.extend(value)
    return size


def remember_answer(
    memory: ThinkingMemory, message: dict[str, Any], completion: dict[str, Any]
) -> None:
    """Keep the thinking blocks of an Anthropic `message` by the tool call ids of `completion`,
    the chat.completion the client gets for it."""
    # chat_completion has made sure the content is a list.
    thinking = [
        block
        for block in message["content"]
        if isinstance(block, dict) and block.get("type") in THINKING_TYPES
    ]
    calls = completion["choices"][0]["message"].get("tool_calls") or []
    memory.remember((call["id"] for call in calls), thinking)


class StreamThinking:
    """Rebuilds a stream's thinking blocks from its events and keeps them, at the finish chunk,
    by the tool call ids its chunks gave the client."""

    def __init__(self, memory: ThinkingMemory) -> None:
        self.memory = memory
        self.blocks: dict[int, Block] = {}
        # The streamed pieces of each block's fields, joined once the answer is finished:
        # adding each delta to a string would copy all the text so far every time.
        self.pieces: dict[tuple[int, str], list[str]] = {}
        self.call_ids: list[str] = []
        # A thinking event of the wrong shape: such blocks are not sent back.
        self.broken = False

    def event(self, payload: dict[str, Any]) -> None:
        """Take one parsed upstream event into account (StreamTranslator's `on_event`)."""
        kind, index = payload.get("type"), payload.get("index")
        if not isinstance(index, int):
            return
        if kind == "content_block_start":
            block = payload.get("content_block")
            if isinstance(block, dict) and block.get("type") in THINKING_TYPES:
                self.blocks[index] = dict(block)
        elif kind == "content_block_delta" and index in self.blocks:
            delta = payload.get("delta")
            name = _DELTA_FIELDS.get(delta.get("type")) if isinstance(delta, dict) else None
            if name is None:
                return
            block, value = self.blocks[index], delta.get(name)
            if isinstance(value, str) and isinstance(block.get(name, ""), str):
                self.pieces.setdefault((index, name), []).append(value)
            else:
                self.broken = True

    def chunks(self, chunks: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """`chunks` unchanged; the blocks are kept before the finish chunk goes out, so before
        the client can send the tool results."""
        for chunk in chunks:
            for choice in chunk.get("choices") or []:
                for call in choice["delta"].get("tool_calls") or []:
                    if call.get("id"):
                        self.call_ids.append(call["id"])
                if choice.get("finish_reason") and not self.broken and self.call_ids:
                    self.memory.remember(self.call_ids, self._finished_blocks())
            yield chunk

    def _finished_blocks(self) -> list[Block]:
        """The thinking blocks as the answer gave them, in their order."""
        blocks = [dict(self.blocks[index]) for index in sorted(self.blocks)]
        by_index = dict(zip(sorted(self.blocks), blocks, strict=True))
        for (index, name), parts in self.pieces.items():
            block = by_index[index]
            block[name] = block.get(name, "") + "".join(parts)
        return blocks


def replay(payload: dict[str, Any], body: dict[str, Any], memory: ThinkingMemory | None) -> None:
    """Put remembered thinking blocks first in the assistant messages of the turn in progress
    (a tool loop) whose tool calls they came with. When that turn cannot start with its blocks,
    thinking is left off for this request, which Anthropic takes with such a history.

    Earlier turns get none: Anthropic needs only the blocks of the loop being continued, and
    blocks there would make the prompt (its tokens, its cache) depend on the worker."""
    turns = list(payload["messages"])
    start = _turn_in_progress(turns)
    if start is None:
        return
    # Turns carry the ids as Anthropic takes them (messages.tool_id); the memory, the client's.
    client_ids = {tool_id(call_id): call_id for call_id in _history_call_ids(body)}
    for index in range(start, len(turns)):
        found = _remembered(turns[index], client_ids, memory) if memory is not None else []
        thinking = [dict(block) for group in found for block in group]
        if thinking:
            turns[index] = {**turns[index], "content": thinking + turns[index]["content"]}
    if turns[start]["content"][0]["type"] not in THINKING_TYPES:
        # Without thinking, the turn may hold no thinking blocks at all (nor a later step's).
        drop_thinking(payload)
        return
    payload["messages"] = turns


def _remembered(
    turn: dict[str, Any], client_ids: dict[str, str], memory: ThinkingMemory
) -> list[tuple[Block, ...]]:
    """The remembered blocks of the answers whose tool calls an assistant turn holds."""
    groups: list[tuple[Block, ...]] = []
    for block in turn["content"] if turn["role"] == "assistant" else []:
        call_id = client_ids.get(block["id"]) if block["type"] == "tool_use" else None
        found = memory.get(call_id) if call_id else None
        # Parallel calls of one answer share its blocks: they go back once.
        if found and all(found is not group for group in groups):
            groups.append(found)
    return groups


def _history_call_ids(body: dict[str, Any]) -> Iterator[str]:
    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "assistant":
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict) and isinstance(call.get("id"), str):
                    yield call["id"]


def _turn_in_progress(turns: list[dict[str, Any]]) -> int | None:
    """Index of the first assistant message of the assistant turn that tool results continue
    (tool loops are one turn), or None when the conversation ends with a new user message."""
    start = None
    for index in range(len(turns) - 1, -1, -1):
        turn = turns[index]
        if turn["role"] == "assistant":
            start = index
        elif not any(block["type"] == "tool_result" for block in turn["content"]):
            break
    return start
