"""Schema for `POST /v1/completions` (CreateCompletionRequest, the legacy text completions)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.schemas import problems
from app.schemas.base import (
    Array,
    BaseSchema,
    ByType,
    Object,
    StrictBoolean,
    StrictInteger,
    StrictNumber,
    StrictString,
)
from app.schemas.chat import LogitBias, max_n
from app.schemas.options import StreamOptionsSchema
from app.schemas.text_input import TextOrTokens

# Prompts in one request; each prompt is one input, like the inputs of an embeddings request.
MAX_PROMPTS = 2048
_INT64 = 2**63


class CompletionRequestSchema(BaseSchema):
    """The legacy completion request; unknown top-level fields are kept for the upstream.

    Nothing is defaulted here: the body reaches a native completions upstream as it was sent
    (the spec's `max_tokens: 16` default is applied where a request is converted to chat).
    """

    model = StrictString(required=True)
    prompt = TextOrTokens(required=True, allow_none=True, max_items=MAX_PROMPTS)
    suffix = StrictString(allow_none=True)
    echo = StrictBoolean(allow_none=True)
    logprobs = StrictInteger(allow_none=True, minimum=0, maximum=5)
    best_of = StrictInteger(allow_none=True, minimum=0, maximum=20)
    n = StrictInteger(allow_none=True, minimum=1, maximum=max_n)
    stop = ByType(
        {str: StrictString(), list: Array(StrictString(), min_items=1, max_items=4)},
        "one of a string or array of strings",
        allow_none=True,
    )
    stream = StrictBoolean(allow_none=True)
    stream_options = Object(StreamOptionsSchema, allow_none=True)
    max_tokens = StrictInteger(allow_none=True, minimum=0)
    temperature = StrictNumber(allow_none=True, minimum=0, maximum=2)
    top_p = StrictNumber(allow_none=True, minimum=0, maximum=1)
    frequency_penalty = StrictNumber(allow_none=True, minimum=-2, maximum=2)
    presence_penalty = StrictNumber(allow_none=True, minimum=-2, maximum=2)
    logit_bias = LogitBias(allow_none=True)
    seed = StrictInteger(allow_none=True, minimum=-_INT64, maximum=_INT64 - 1)
    # Not nullable in the spec (unlike most fields here), as in chat.
    user = StrictString()

    @ma.validates_schema
    def _combinations(self, data: dict[str, Any], **kwargs: Any) -> None:
        n, best_of = data.get("n") or 1, data.get("best_of")
        if best_of is not None and best_of < n:
            raise ma.ValidationError(
                problems.invalid(
                    f"{best_of}. 'best_of' must be greater than or equal to 'n' ({n})."
                ),
                field_name="best_of",
            )
        if data.get("stream") is True and best_of is not None and best_of > 1:
            raise ma.ValidationError(
                problems.invalid(f"{best_of}. Results cannot be streamed when 'best_of' > 1."),
                field_name="best_of",
            )
        if data.get("stream_options") is not None and data.get("stream") is not True:
            raise ma.ValidationError(
                problems.invalid("'stream_options' is only allowed when 'stream' is true."),
                field_name="stream_options",
            )
