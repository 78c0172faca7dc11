"""OpenAI embeddings requests as Gemini `embedContent` / `batchEmbedContents`, and back."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

from app.backends.base import Call
from app.errors import UnsupportedError, UpstreamError
from app.tokens import count_text

# Gemini takes at most this many requests in one batchEmbedContents call.
BATCH_LIMIT = 100


def input_texts(body: dict[str, Any]) -> list[str]:
    """The inputs as strings; token arrays cannot be embedded by Gemini."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise UnsupportedError(
        "This model embeds text only; token arrays are not supported.", param="input"
    )


def embed_request(text: str, body: dict[str, Any]) -> dict[str, Any]:
    """One EmbedContentRequest body: the text, plus `dimensions` and an optional `task_type`."""
    request: dict[str, Any] = {"content": {"parts": [{"text": text}]}}
    if body.get("task_type"):
        request["taskType"] = body["task_type"]
    if body.get("dimensions") is not None:
        request["outputDimensionality"] = body["dimensions"]
    return request


def batch_request(model: str, texts: list[str], body: dict[str, Any]) -> dict[str, Any]:
    """A BatchEmbedContentsRequest body; every item names the model again."""
    return {"requests": [{"model": f"models/{model}", **embed_request(t, body)} for t in texts]}


def vectors(payload: Any, expected: int) -> list[list[float]]:
    """The vectors of an embedContent (`embedding`) or batch (`embeddings`) answer."""
    if isinstance(payload, dict) and isinstance(payload.get("embedding"), dict):
        items = [payload["embedding"]]
    elif isinstance(payload, dict) and isinstance(payload.get("embeddings"), list):
        items = payload["embeddings"]
    else:
        items = []
    values = [item.get("values") for item in items if isinstance(item, dict)]
    if len(values) != expected or not all(_is_vector(v) for v in values):
        raise UpstreamError("Upstream returned an unexpected embeddings answer.")
    return values


def normalized(values: list[float]) -> list[float]:
    """The vector scaled to length 1 (a zero vector is kept as it is)."""
    norm = math.sqrt(math.fsum(v * v for v in values))
    return [v / norm for v in values] if norm and math.isfinite(norm) else values


def _is_vector(values: Any) -> bool:
    return isinstance(values, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )


def encode(values: list[float], encoding_format: str | None) -> list[float] | str:
    """A vector as floats, or as base64 of little-endian float32 (as OpenAI sends it)."""
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")
    return values


def embedding_list(call: Call, texts: list[str], all_vectors: list[list[float]]) -> dict:
    """The OpenAI embeddings list; token usage is counted locally (Gemini reports none)."""
    encoding_format = call.body.get("encoding_format")
    if call.body.get("dimensions") is not None:
        # OpenAI vectors always have length 1 (clients rank by dot product); Gemini normalizes
        # only full-size ones, not those cut short by `outputDimensionality`.
        all_vectors = [normalized(v) for v in all_vectors]
    prompt_tokens = sum(count_text(t, call.route.upstream_model) for t in texts)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": encode(v, encoding_format)}
            for i, v in enumerate(all_vectors)
        ],
        "model": call.model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
