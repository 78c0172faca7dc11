"""Token counting with tiktoken, or a documented approximation when no encoding is available.

tiktoken is used only when the encoding's BPE file is already in tiktoken's cache folder
(`TIKTOKEN_CACHE_DIR`, else `DATA_GYM_CACHE_DIR`, else `<tmp>/data-gym-cache`) under tiktoken's
own cache key (sha1 of the file's download URL), with the right sha256. The gateway never
downloads it: without the file the first request would otherwise wait on the network.

The approximation splits text roughly the way tiktoken's pre-tokenizer does and counts one token
per piece: an apostrophe suffix (`'s`, `'ll`), up to 7 ASCII letters, up to 2 other letters or
up to 3 digits (each with an optional leading space), a run of punctuation, a run of whitespace.
On English prose it lands within about 10% of `cl100k_base`; it over-counts indented source code
and under-counts CJK text. Split pieces always join back to the original text.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import threading
from typing import Any

import config

log = logging.getLogger(__name__)

_lock = threading.Lock()
_encodings: dict[str, Any] = {}
_APPROX_PIECES = re.compile(
    r"'(?:s|t|re|ve|m|ll|d)\b| ?[A-Za-z]{1,7}| ?[^\W\d_A-Za-z]{1,2}| ?\d{1,3}| ?[^\s\w]+|_+"
    r"|\s+(?!\S)|\s+"
)
# The sha256 tiktoken expects of each encoding's BPE file, and the file's download URL (whose
# sha1 names the cached copy). A cached file that fails tiktoken's hash check would make it
# delete the file and download it again, so it is checked here first.
_BPE_FILES = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "p50k_base": "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069",
    "r50k_base": "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
}
_BPE_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
# Per-message framing tokens in OpenAI's chat format.
_PER_MESSAGE = 3
_REPLY_PRIMING = 3
# OpenAI's image cost for gpt-4o-class models: 85 tokens at low detail; at high (or auto) detail
# 85 plus 170 per 512 px tile, 765 for the usual 1024 x 1024 image. Other models and providers
# bill images differently (gpt-4o-mini more, Gemini about 258): this is an estimate for them.
IMAGE_LOW, IMAGE_HIGH = 85, 765
_PER_FUNCTION = 8


@functools.lru_cache(maxsize=256)
def _encoding_name(model: str) -> str:
    model = model.lower()
    if model.startswith(("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4")):
        return "o200k_base"
    return "cl100k_base"


def cached_encoding_file(name: str) -> str | None:
    """Path of the encoding's intact BPE file in tiktoken's cache folder, else None."""
    expected = _BPE_FILES.get(name)
    cache_dir = config.tiktoken_cache_dir()
    if expected is None or not cache_dir:
        return None
    key = hashlib.sha1(_BPE_URL.format(name).encode()).hexdigest()
    path = os.path.join(cache_dir, key)
    try:
        with open(path, "rb") as fh:
            intact = hashlib.sha256(fh.read()).hexdigest() == expected
    except OSError:
        return None
    return path if intact else None


def _load(name: str) -> Any:
    if cached_encoding_file(name) is None:
        log.warning("no intact tiktoken file for %s in its cache folder; approximating", name)
        return None
    try:
        import tiktoken

        return tiktoken.get_encoding(name)
    except Exception as exc:  # a broken file or tiktoken itself: counting must go on
        log.warning("tiktoken encoding %s unavailable (%s); approximating tokens", name, exc)
        return None


def _encoding(name: str) -> Any:
    """The tiktoken encoding, loaded once; None when it cannot be loaded without the network."""
    if name in _encodings:
        return _encodings[name]
    with _lock:
        if name not in _encodings:
            _encodings[name] = _load(name)
    return _encodings[name]


def uses_tiktoken(model: str = "") -> bool:
    """True when counts for `model` come from tiktoken rather than the approximation."""
    return _encoding(_encoding_name(model)) is not None


def approximate(text: str) -> int:
    """Approximate token count (see the module docstring)."""
    return len(_APPROX_PIECES.findall(text))


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
        function = (call.get("function") if isinstance(call, dict) else None) or {}
        parts.append(f"{function.get('name', '')} {function.get('arguments', '')}")
    return " ".join(p for p in parts if p)


def count_messages(messages: list[dict[str, Any]], model: str = "") -> int:
    """Prompt tokens of a chat request, framing tokens and images included, as OpenAI counts
    them."""
    total = _REPLY_PRIMING
    for message in messages:
        if isinstance(message, dict):
            total += _PER_MESSAGE + count_text(_message_text(message), model)
            total += _image_tokens(message.get("content"))
    return total


def _image_tokens(content: Any) -> int:
    """OpenAI's cost of the images among a message's parts. The image size is not known here, so
    high (and auto) detail count as the usual 1024 x 1024 image."""
    if not isinstance(content, list):
        return 0
    total = 0
    for part in content:
        if isinstance(part, dict) and part.get("type") == "image_url":
            image = part.get("image_url")
            low = isinstance(image, dict) and image.get("detail") == "low"
            total += IMAGE_LOW if low else IMAGE_HIGH
    return total


def count_functions(functions: list[dict[str, Any]], model: str = "") -> int:
    """Prompt tokens taken by function definitions (name, description and parameters)."""
    total = 0
    for function in functions:
        parameters = json.dumps(
            function.get("parameters") or {}, separators=(",", ":"), default=str
        )
        text = f"{function.get('name', '')} {function.get('description') or ''} {parameters}"
        total += _PER_FUNCTION + count_text(text, model)
    return total


def token_pieces(text: str, model: str = "") -> list[tuple[str, int]]:
    """Text split into token-sized pieces with their token counts; the pieces join to `text`.

    With tiktoken a piece is one token, or the few tokens that together spell a character split
    across token boundaries; with the approximation each piece counts one.
    """
    enc = _encoding(_encoding_name(model))
    if enc is None:
        return [(piece, 1) for piece in _APPROX_PIECES.findall(text)]
    pieces: list[tuple[str, int]] = []
    pending, count = b"", 0
    for token in enc.encode(text, disallowed_special=()):
        pending += enc.decode_single_token_bytes(token)
        count += 1
        try:
            pieces.append((pending.decode("utf-8"), count))
        except UnicodeDecodeError:
            continue  # a multi-byte character spans tokens: keep it whole
        pending, count = b"", 0
    return pieces


def split_tokens(text: str, model: str = "") -> list[str]:
    """Split text into token-sized pieces that join back to `text` (real tokens with tiktoken)."""
    return [piece for piece, _ in token_pieces(text, model)]


def decode_tokens(tokens: list[int], model: str = "") -> str | None:
    """Text of token ids in `model`'s encoding; None without an encoding or for an unknown id."""
    enc = _encoding(_encoding_name(model))
    if enc is None:
        return None
    try:
        return enc.decode(tokens)
    except (KeyError, ValueError, OverflowError):
        return None
