"""Object-valued options of a chat request: response format, audio, prediction, search, caching."""

from __future__ import annotations

import marshmallow as ma

from app.schemas.base import (
    Array,
    BaseSchema,
    ByType,
    Choice,
    Discriminated,
    JSONObject,
    Object,
    StrictBoolean,
    StrictString,
)
from app.schemas.messages import TextPartSchema
from app.schemas.tools import NAME_PATTERN


class TextFormatSchema(BaseSchema):
    """`{"type": "text"}`."""

    type = StrictString(required=True)


class JSONObjectFormatSchema(BaseSchema):
    """`{"type": "json_object"}`."""

    type = StrictString(required=True)


class JSONSchemaSchema(BaseSchema):
    """The `json_schema` object of a structured output request."""

    name = StrictString(required=True, pattern=NAME_PATTERN)
    description = StrictString()
    schema = JSONObject()
    strict = StrictBoolean(allow_none=True)


class JSONSchemaFormatSchema(BaseSchema):
    """`{"type": "json_schema", "json_schema": {...}}`."""

    type = StrictString(required=True)
    json_schema = Object(JSONSchemaSchema, required=True)


RESPONSE_FORMAT_SCHEMAS: dict[str, type[ma.Schema]] = {
    "text": TextFormatSchema,
    "json_object": JSONObjectFormatSchema,
    "json_schema": JSONSchemaFormatSchema,
}


class CustomVoiceSchema(BaseSchema):
    """A custom voice reference."""

    id = StrictString(required=True)


class AudioOutputSchema(BaseSchema):
    """`audio`: voice and format of a spoken answer."""

    voice = ByType(
        {str: StrictString(), dict: Object(CustomVoiceSchema)},
        "one of a string or an object",
        required=True,
    )
    format = Choice(("wav", "aac", "mp3", "flac", "opus", "pcm16"), required=True)


class PredictionSchema(BaseSchema):
    """`prediction`: predicted output content."""

    type = Choice(("content",), required=True)
    content = ByType(
        {str: StrictString(), list: Array(Object(TextPartSchema), min_items=1)},
        "one of a string or array of objects",
        required=True,
    )


class StreamOptionsSchema(BaseSchema):
    """`stream_options` (only with `stream: true`)."""

    include_usage = StrictBoolean()
    include_obfuscation = StrictBoolean()


class ApproximateLocationSchema(BaseSchema):
    """An approximate user location for web search."""

    country = StrictString()
    region = StrictString()
    city = StrictString()
    timezone = StrictString()


class UserLocationSchema(BaseSchema):
    """`web_search_options.user_location`."""

    type = Choice(("approximate",), required=True)
    approximate = Object(ApproximateLocationSchema, required=True)


class WebSearchOptionsSchema(BaseSchema):
    """`web_search_options`."""

    user_location = Object(UserLocationSchema, allow_none=True)
    search_context_size = Choice(("low", "medium", "high"))


class ModerationConfigSchema(BaseSchema):
    """How moderation treats the input or the output."""

    mode = Choice(("score", "block"), required=True)


class ModerationPolicySchema(BaseSchema):
    """Moderation policy for input and output."""

    input = Object(ModerationConfigSchema, allow_none=True)
    output = Object(ModerationConfigSchema, allow_none=True)


class ModerationSchema(BaseSchema):
    """`moderation`: the moderation model and policy."""

    model = StrictString(required=True)
    policy = Object(ModerationPolicySchema, allow_none=True)


class PromptCacheOptionsSchema(BaseSchema):
    """`prompt_cache_options`."""

    ttl = Choice(("30m",))
    mode = Choice(("implicit", "explicit"))


def response_format_field() -> Discriminated:
    """`response_format`: text, json_object or json_schema."""
    return Discriminated("type", RESPONSE_FORMAT_SCHEMAS)
