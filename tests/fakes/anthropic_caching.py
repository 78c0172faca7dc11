"""Prompt caching in the fake Anthropic API: the documented breakpoint rules and cache counts.

Rules checked, as Anthropic's prompt caching docs state them: `cache_control` is
`{"type": "ephemeral"}` with an optional `ttl` of `5m` or `1h`, on at most 4 blocks (tools,
system text blocks, message content blocks), never on thinking blocks, and a longer TTL never
comes after a shorter one. Counting, in words: a breakpoint writes the prefix up to its block
when that prefix reaches the model's minimum (else nothing is cached, and no error is given);
reads look back at most 20 blocks from each breakpoint for a prefix an earlier request wrote.
`input_tokens` then counts only what was neither read nor written.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

MAX_BREAKPOINTS = 4
LOOKBACK = 20
TTLS = {"5m": 300, "1h": 3600}
THINKING_TYPES = ("thinking", "redacted_thinking")
# Minimum cacheable prompt length by model id prefix (the longest match wins).
MIN_TOKENS = {
    "claude": 1024,
    "claude-3-haiku": 2048,
    "claude-3-5-haiku": 2048,
    "claude-sonnet-4-6": 2048,
    "claude-opus-4-7": 2048,
    "claude-haiku-4-5": 4096,
    "claude-opus-4-5": 4096,
    "claude-opus-4-6": 4096,
}
# Prefix hash → when the entry expires (time.monotonic()).
_entries: dict[str, float] = {}


def blocks(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every cacheable position of a request in cache order (tools, system, messages)."""
    found = [(f"tools.{i}", tool) for i, tool in enumerate(body.get("tools") or [])]
    system = body.get("system")
    if isinstance(system, list):
        found += [(f"system.{i}", block) for i, block in enumerate(system)]
    elif system:
        found.append(("system", {"type": "text", "text": system}))
    for i, message in enumerate(body["messages"]):
        content = message["content"]
        content = [{"type": "text", "text": content}] if isinstance(content, str) else content
        found += [(f"messages.{i}.content.{j}", block) for j, block in enumerate(content)]
    return found


def check(body: dict[str, Any]) -> str | None:
    """The first broken caching rule of a (structurally valid) request, or None."""
    marked = [(where, block) for where, block in blocks(body) if "cache_control" in block]
    if len(marked) > MAX_BREAKPOINTS:
        return (
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(marked)}."
        )
    shortest = max(TTLS.values())
    for where, block in marked:
        control = block["cache_control"]
        if block.get("type") in THINKING_TYPES:
            return f"{where}.cache_control: thinking blocks cannot be cached with cache_control"
        if not isinstance(control, dict) or control.get("type") != "ephemeral":
            return f"{where}.cache_control.type: Input should be 'ephemeral'"
        if set(control) - {"type", "ttl"} or control.get("ttl", "5m") not in TTLS:
            return f"{where}.cache_control.ttl: Input should be '5m' or '1h'"
        ttl = TTLS[control.get("ttl", "5m")]
        if ttl > shortest:
            return "a ttl='1h' cache_control block must not come after a ttl='5m' one"
        shortest = ttl
    return None


def _words(block: dict[str, Any]) -> int:
    plain = {key: value for key, value in block.items() if key != "cache_control"}
    return len(re.findall(r"\S+", json.dumps(plain, ensure_ascii=False)))


def usage(body: dict[str, Any]) -> dict[str, int] | None:
    """The input token counts of a request with breakpoints (None without any), and the
    cache entries it writes."""
    found = blocks(body)
    marks = [i for i, (_, block) in enumerate(found) if "cache_control" in block]
    if not marks:
        return None
    sizes = [_words(block) for _, block in found]
    hashes, digest = [], hashlib.sha256(body["model"].encode())
    for _, block in found:
        plain = {key: value for key, value in block.items() if key != "cache_control"}
        digest.update(json.dumps(plain, sort_keys=True).encode())
        hashes.append(digest.copy().hexdigest())
    now = time.monotonic()
    read = -1
    for mark in marks:
        for position in range(mark, max(mark - LOOKBACK, -1), -1):
            if _entries.get(hashes[position], 0) > now:
                read = max(read, position)
                break
    written = read
    minimum = _minimum(body["model"])
    for mark in marks:
        ttl = TTLS[found[mark][1]["cache_control"].get("ttl", "5m")]
        if sum(sizes[: mark + 1]) >= minimum:
            _entries[hashes[mark]] = now + ttl
            written = max(written, mark)
    cached, created = sum(sizes[: read + 1]), sum(sizes[read + 1 : written + 1])
    return {
        "input_tokens": sum(sizes) - cached - created,
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": cached,
    }


def _minimum(model: str) -> int:
    matches = [prefix for prefix in MIN_TOKENS if model.startswith(prefix)]
    return MIN_TOKENS[max(matches, key=len)] if matches else MIN_TOKENS["claude"]
