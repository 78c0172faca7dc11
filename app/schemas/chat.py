"""Schema for `POST /v1/chat/completions` (CreateChatCompletionRequest)."""

from __future__ import annotations

import marshmallow as ma

from app.schemas.base import BaseSchema, StrictBoolean, StrictInteger, StrictString


class ChatCompletionRequestSchema(BaseSchema):
    """The chat completion request; unknown top-level fields are kept."""

    model = StrictString(required=True)
    messages = ma.fields.List(ma.fields.Dict(), required=True, validate=ma.validate.Length(min=1))
    stream = StrictBoolean(allow_none=True)
    n = StrictInteger(allow_none=True, validate=ma.validate.Range(min=1, max=128))
    max_tokens = StrictInteger(allow_none=True, validate=ma.validate.Range(min=1))
