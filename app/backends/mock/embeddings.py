"""Mock embeddings: deterministic unit-length vectors derived from a hash of each input.

The same model and input always give the same vector; a token array that decodes to a text
gives that text's vector. Components come from SHAKE-256 of the input, so a vector of `d`
dimensions is the renormalised prefix of the full one, as with OpenAI's `dimensions`.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

from app.backends.base import Call
from app.errors import EmbeddingsNotAllowed, InvalidRequestError, UnsupportedError
from app.tokens import count_text, decode_tokens

# Native sizes by model name; any other model whose name mentions "embed" gets the default.
_NATIVE_DIMENSIONS = (("text-embedding-3-large", 3072), ("text-embedding-3-small", 1536))
DEFAULT_DIMENSIONS = 1536
# OpenAI's limits: tokens per input and tokens summed over one request.
MAX_INPUT_TOKENS = 8192
MAX_REQUEST_TOKENS = 300_000


def native_dimensions(call: Call) -> int | None:
    """The model's vector size: the route's `dimensions` option, else by name; None for chat."""
    configured = call.route.options.get("dimensions")
    if configured:
        return int(configured)
    model = call.route.upstream_model.lower()
    for name, size in _NATIVE_DIMENSIONS:
        if name in model:
            return size
    return DEFAULT_DIMENSIONS if "embed" in model else None


def _dimensions(call: Call) -> int:
    native = native_dimensions(call)
    if native is None:
        raise EmbeddingsNotAllowed()
    wanted = call.body.get("dimensions")
    if wanted is None:
        return native
    if "ada-002" in call.route.upstream_model:
        raise UnsupportedError(
            "This model does not support specifying dimensions.", param="dimensions"
        )
    if wanted > native:
        raise InvalidRequestError(
            f"This model's embeddings have at most {native} dimensions; 'dimensions' was {wanted}.",
            param="dimensions",
        )
    return wanted


def _inputs(value: Any) -> list[str | list[int]]:
    """The inputs as a list: each one a text or a token array."""
    if isinstance(value, str) or (value and isinstance(value[0], int)):
        return [value]
    return list(value)


def _key_and_tokens(item: str | list[int], model: str) -> tuple[bytes, int]:
    if isinstance(item, str):
        return item.encode(), count_text(item, model)
    text = decode_tokens(item, model)
    key = text.encode() if text is not None else b"tokens:" + ",".join(map(str, item)).encode()
    return key, len(item)


def vector(key: bytes, dimensions: int) -> list[float]:
    """A unit vector of float32 values for `key` (the same key, the same vector)."""
    raw = hashlib.shake_256(key).digest(4 * dimensions)
    values = [u / 2**31 - 1.0 for u in struct.unpack(f"<{dimensions}I", raw)]
    norm = math.sqrt(math.fsum(v * v for v in values)) or 1.0
    # Nine significant digits keep every float32 exact, so `float` and `base64` agree.
    return [float(f"{x:.9g}") for x in struct.unpack(f"<{dimensions}f", _pack(values, norm))]


def _pack(values: list[float], norm: float = 1.0) -> bytes:
    return struct.pack(f"<{len(values)}f", *(v / norm for v in values))


def encode(values: list[float], encoding_format: str | None) -> list[float] | str:
    """The vector as JSON floats, or as base64 of its little-endian float32 bytes."""
    if encoding_format == "base64":
        return base64.b64encode(_pack(values)).decode("ascii")
    return values


def _keys(call: Call, model: str) -> tuple[list[bytes], int]:
    """Each input's hash key, and the request's token count, within OpenAI's limits."""
    limit = int(call.route.options.get("max_input_tokens", MAX_INPUT_TOKENS))
    keys, total = [], 0
    for index, item in enumerate(_inputs(call.body["input"])):
        key, tokens = _key_and_tokens(item, model)
        if tokens > limit:
            raise InvalidRequestError(
                f"This model's maximum context length is {limit} tokens, however you "
                f"requested {tokens} tokens in input {index}. Please reduce the input.",
                param="input",
                code="context_length_exceeded",
            )
        keys.append(model.encode() + b"\0" + key)
        total += tokens
    if total > MAX_REQUEST_TOKENS:
        raise InvalidRequestError(
            f"Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request.",
            param="input",
            code="max_tokens_per_request",
        )
    return keys, total


def embed(call: Call) -> dict[str, Any]:
    """The CreateEmbeddingResponse for the request."""
    dimensions = _dimensions(call)
    keys, total = _keys(call, call.route.upstream_model)
    encoding_format = call.body.get("encoding_format")
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": encode(vector(key, dimensions), encoding_format),
        }
        for i, key in enumerate(keys)
    ]
    return {
        "object": "list",
        "data": data,
        "model": call.model,
        "usage": {"prompt_tokens": total, "total_tokens": total},
    }
