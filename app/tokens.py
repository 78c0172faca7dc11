"""Token counting with tiktoken, or a documented approximation when no encoding can be loaded.

The approximation counts words and punctuation marks (about 1.3 tokens per English word and
one per symbol), which stays within roughly 20% of cl100k_base on ordinary English text.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_encodings: dict[str, Any] = {}
_WORDS = re.compile(r"\w+|[^\w\s]", re.UNICODE)
# Per-message framing tokens in OpenAI's chat format.
_PER_MESSAGE = 3
_REPLY_PRIMING = 3


def _encoding_name(model: str) -> str:
    model = model.lower()
    if model.startswith(("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4")):
        return "o200k_base"
    return "cl100k_base"


def _encoding(name: str) -> Any:
    """The tiktoken encoding, loaded once; None when it cannot be loaded (e.g. offline)."""
    if name in _encodings:
        return _encodings[name]
    with _lock:
        if name not in _encodings:
            try:
                import tiktoken

                _encodings[name] = tiktoken.get_encoding(name)
            except Exception as exc:  # missing cache and no network, or a broken file
                log.warning("tiktoken encoding %s unavailable (%s); approximating", name, exc)
                _encodings[name] = None
    return _encodings[name]


def approximate(text: str) -> int:
    """Approximate token count: words count 4/3, other symbols one each."""
    words = symbols = 0
    for match in _WORDS.finditer(text):
        if match.group()[0].isalnum() or match.group()[0] == "_":
            words += 1
        else:
            symbols += 1
    return math.ceil(words * 4 / 3) + symbols


def count_text(text: str, model: str = "") -> int:
    """Number of tokens in `text` for `model`'s encoding."""
    if not text:
        return 0
    enc = _encoding(_encoding_name(model))
    if enc is None:
        return approximate(text)
    return len(enc.encode(text, disallowed_special=()))


def _message_text(message: dict[str, Any]) -> str:
    parts = [str(message.get("role", "")), str(message.get("name") or "")]
    content = message.get("content")
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, list):
        parts.extend(
            str(p.get("text") or p.get("refusal") or "") for p in content if isinstance(p, dict)
        )
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        parts.append(f"{function.get('name', '')} {function.get('arguments', '')}")
    return " ".join(p for p in parts if p)


def count_messages(messages: list[dict[str, Any]], model: str = "") -> int:
    """Prompt tokens of a chat request, framing tokens included, as OpenAI counts them."""
    total = _REPLY_PRIMING
    for message in messages:
        total += _PER_MESSAGE + count_text(_message_text(message), model)
    return total


def split_tokens(text: str, model: str = "") -> list[str]:
    """Split text into token-sized pieces (real tokens when tiktoken is available)."""
    enc = _encoding(_encoding_name(model))
    if enc is None:
        return re.findall(r"\s*(?:\w+|[^\w\s])", text)
    pieces, pending = [], b""
    for token in enc.encode(text, disallowed_special=()):
        pending += enc.decode_single_token_bytes(token)
        try:
            pieces.append(pending.decode("utf-8"))
            pending = b""
        except UnicodeDecodeError:
            continue  # a multi-byte character spans tokens: keep it whole
    return pieces
