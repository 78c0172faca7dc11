"""Prompt caching: Anthropic `cache_control` breakpoints where a growing chat reuses its prefix.

OpenAI caches long prompts by itself; Anthropic caches a prefix only up to a block marked with
`cache_control`, at most 4 per request, and writes cost more than plain input. With the backend
option `prompt_caching` the gateway marks the last tool, the system prompt and the last two user
turns. A request reads the entry the previous turn of its chat wrote at its last user turn.
Clients may mark blocks themselves, with OpenAI's `prompt_cache_breakpoint` or with
`cache_control` as some send it: those marks follow OpenAI's rules for explicit breakpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_BREAKPOINTS = 4
TTLS = ("5m", "1h")
# The mark messages.py puts on a block a client marked; place_breakpoints decides what is sent.
CLIENT_MARK = "cache_control"
Block = dict[str, Any]


def cache_mark(name: str, options: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `cache_control` the backend's `prompt_caching` and `prompt_cache_ttl` options ask
    for, or None when caching is off; a value of the wrong kind is a ValueError."""
    enabled = options.get("prompt_caching", False)
    if not isinstance(enabled, bool):
        raise ValueError(f"backend `{name}`: prompt_caching must be true or false")
    ttl = options.get("prompt_cache_ttl", TTLS[0])
    if ttl not in TTLS:
        raise ValueError(f"backend `{name}`: prompt_cache_ttl must be one of {', '.join(TTLS)}")
    if not enabled:
        return None
    # The 5-minute lifetime is Anthropic's default: the request then carries no `ttl`.
    return {"type": "ephemeral"} if ttl == TTLS[0] else {"type": "ephemeral", "ttl": ttl}


def client_marked(item: Any) -> bool:
    """True when a message or a content part carries a client's cache breakpoint."""
    return isinstance(item, dict) and (
        isinstance(item.get("prompt_cache_breakpoint"), dict)
        or isinstance(item.get("cache_control"), dict)
    )


def message_marked(message: Any) -> bool:
    """True when a message, or any of its content parts, carries a cache breakpoint."""
    if client_marked(message):
        return True
    content = message.get("content") if isinstance(message, dict) else None
    return isinstance(content, list) and any(client_marked(part) for part in content)


def place_breakpoints(
    payload: dict[str, Any], body: dict[str, Any], mark: dict[str, Any] | None
) -> None:
    """Mark the blocks of `payload` to cache with `mark`, or none when it is None.

    Without client marks: the last tool, the system prompt, and the last block of the last two
    user turns. With them, as OpenAI treats explicit breakpoints: the latest three and the
    last user turn's block, or the latest four when `prompt_cache_options.mode` is `explicit`
    (which also turns the gateway's own breakpoints off).
    """
    marked = _take_client_marks(payload)
    if mark is None:
        return
    system = _system_block(payload)
    explicit = [system] if system is not None and _system_marked(body) else []
    explicit += marked
    user_blocks = [turn["content"][-1] for turn in payload["messages"] if turn["role"] == "user"]
    options = body.get("prompt_cache_options")
    mode = options.get("mode") if isinstance(options, dict) else None
    if mode == "explicit":
        chosen = explicit[-MAX_BREAKPOINTS:]
    elif explicit:
        chosen = explicit[1 - MAX_BREAKPOINTS :] + user_blocks[-1:]
    else:
        tools = payload.get("tools") or []
        chosen = [*tools[-1:], *([system] if system is not None else []), *user_blocks[-2:]]
    for block in chosen:
        block[CLIENT_MARK] = dict(mark)
    if system is not None and system.get(CLIENT_MARK):
        # A breakpoint needs a block: the system prompt goes as one text block.
        payload["system"] = [system]


def _take_client_marks(payload: dict[str, Any]) -> list[Block]:
    """The message blocks a client marked, in order, with the marks taken off."""
    marked = []
    for turn in payload["messages"]:
        for block in turn["content"]:
            if block.pop(CLIENT_MARK, None) is not None:
                marked.append(block)
    return marked


def _system_block(payload: dict[str, Any]) -> Block | None:
    system = payload.get("system")
    return {"type": "text", "text": system} if isinstance(system, str) and system else None


def _system_marked(body: dict[str, Any]) -> bool:
    return any(
        isinstance(message, dict)
        and message.get("role") in ("system", "developer")
        and message_marked(message)
        for message in body.get("messages") or []
    )
