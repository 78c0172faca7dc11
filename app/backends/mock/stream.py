"""The mock's replies as `chat.completion.chunk`s, in the order OpenAI streams them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from app.backends import shaping
from app.backends.mock import tools
from app.backends.mock.logprobs import choice_logprobs
from app.backends.mock.replies import Reply


def _choice_chunks(
    chunks: shaping.ChunkFactory, index: int, reply: Reply
) -> Iterator[dict[str, Any]]:
    if reply.style == tools.TEXT:
        yield chunks.role(index)
        tokens = reply.token_logprobs
        for position, piece in enumerate(reply.pieces):
            # Each content chunk carries the log probability of the token it holds.
            logprobs = None if tokens is None else choice_logprobs([tokens[position]])
            yield chunks.content(index, piece, logprobs)
    else:
        # A function-calling answer starts with null content, as OpenAI's does.
        yield chunks.delta(index, {"role": "assistant", "content": None, "refusal": None})
    if reply.style == tools.TOOLS:
        for position, call in enumerate(reply.calls):
            yield chunks.tool_call(index, position, call_id=call.id, name=call.name)
            for piece in call.pieces:
                yield chunks.tool_call(index, position, arguments=piece)
    elif reply.style == tools.FUNCTION:
        call = reply.calls[0]
        yield chunks.function_call(index, name=call.name)
        for piece in call.pieces:
            yield chunks.function_call(index, arguments=piece)
    yield chunks.finish(index, reply.finish_reason)


def events(
    chunks: shaping.ChunkFactory,
    replies: list[Reply],
    usage: dict[str, int] | None,
    delay: float = 0.0,
) -> Iterator[dict[str, Any]]:
    """Every choice's chunks in turn, then the usage chunk when `usage` is given.

    `delay` seconds pass between consecutive chunks, so that clients can watch a stream arrive.
    """
    first = True
    for index, reply in enumerate(replies):
        for chunk in _choice_chunks(chunks, index, reply):
            if delay and not first:
                time.sleep(delay)
            first = False
            yield chunk
    if usage is not None:
        if delay:
            time.sleep(delay)
        yield chunks.usage(usage)
