"""Schema for `POST /v1/embeddings` (CreateEmbeddingRequest)."""

from __future__ import annotations

from app.schemas.base import BaseSchema, Choice, StrictInteger, StrictString
from app.schemas.text_input import TextOrTokens

# Inputs in one request, as OpenAI documents it.
MAX_INPUTS = 2048


class EmbeddingRequestSchema(BaseSchema):
    """The embeddings request; unknown fields are kept for upstreams that take extras."""

    model = StrictString(required=True)
    input = TextOrTokens(required=True, max_items=MAX_INPUTS, allow_empty_text=False)
    encoding_format = Choice(("float", "base64"), allow_none=True)
    dimensions = StrictInteger(allow_none=True, minimum=1)
    # Not nullable in the spec, as in chat and completions.
    user = StrictString()
