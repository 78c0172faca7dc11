"""Chat messages: one schema per role and per content part type, as in the OpenAI spec."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import marshmallow as ma

from app.schemas import problems
from app.schemas.base import (
    Array,
    BaseSchema,
    ByType,
    Choice,
    Discriminated,
    Object,
    StrictString,
)
from app.schemas.tools import TOOL_CALL_SCHEMAS

_DATA_IMAGE = re.compile(r"data:image/[A-Za-z0-9.+-]+;base64,", re.ASCII)


class ImageURL(StrictString):
    """An `http(s)` URL or a base64 `data:image/...` URL."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        value = super()._deserialize(value, attr, data, **kwargs)
        if value.startswith("data:"):
            if not _DATA_IMAGE.match(value):
                raise ma.ValidationError(
                    problems.invalid(
                        "expected a base64-encoded data URL with an image MIME type "
                        "(e.g. 'data:image/png;base64,...'), but got "
                        f"{problems.shown(value.partition(',')[0])}."
                    )
                )
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ma.ValidationError(
                problems.invalid(
                    "expected an http(s) URL or a base64 data URL, "
                    f"but got {problems.shown(value)}."
                )
            )
        return value


class CacheBreakpointSchema(BaseSchema):
    """`prompt_cache_breakpoint` on a content part."""

    mode = Choice(("explicit",), required=True)


class TextPartSchema(BaseSchema):
    """`{"type": "text", "text": ...}`."""

    type = StrictString(required=True)
    text = StrictString(required=True)
    prompt_cache_breakpoint = Object(CacheBreakpointSchema)


class ImageURLSchema(BaseSchema):
    """The `image_url` object of an image part."""

    url = ImageURL(required=True)
    detail = Choice(("auto", "low", "high"))


class ImagePartSchema(BaseSchema):
    """`{"type": "image_url", "image_url": {"url", "detail"}}`."""

    type = StrictString(required=True)
    image_url = Object(ImageURLSchema, required=True)
    prompt_cache_breakpoint = Object(CacheBreakpointSchema)


class InputAudioSchema(BaseSchema):
    """The `input_audio` object of an audio part."""

    data = StrictString(required=True)
    format = Choice(("wav", "mp3"), required=True)


class AudioPartSchema(BaseSchema):
    """`{"type": "input_audio", "input_audio": {"data", "format"}}`."""

    type = StrictString(required=True)
    input_audio = Object(InputAudioSchema, required=True)
    prompt_cache_breakpoint = Object(CacheBreakpointSchema)


class FileSchema(BaseSchema):
    """The `file` object of a file part (inline data or an uploaded file id)."""

    filename = StrictString()
    file_data = StrictString()
    file_id = StrictString()


class FilePartSchema(BaseSchema):
    """`{"type": "file", "file": {"filename", "file_data", "file_id"}}`."""

    type = StrictString(required=True)
    file = Object(FileSchema, required=True)
    prompt_cache_breakpoint = Object(CacheBreakpointSchema)


class RefusalPartSchema(BaseSchema):
    """`{"type": "refusal", "refusal": ...}` (assistant messages only)."""

    type = StrictString(required=True)
    refusal = StrictString(required=True)


TEXT_ONLY = {"text": TextPartSchema}
USER_PARTS = {
    "text": TextPartSchema,
    "image_url": ImagePartSchema,
    "input_audio": AudioPartSchema,
    "file": FilePartSchema,
}
ASSISTANT_PARTS = {"text": TextPartSchema, "refusal": RefusalPartSchema}


def content_field(parts: dict[str, type[ma.Schema]], **kwargs: Any) -> ByType:
    """A `content` field: a string, or a non-empty array of the given part types."""
    return ByType(
        {str: StrictString(), list: Array(Discriminated("type", parts), min_items=1)},
        "one of a string or array of objects",
        **kwargs,
    )


class SystemMessageSchema(BaseSchema):
    """A `system` message: text only."""

    role = StrictString(required=True)
    content = content_field(TEXT_ONLY, required=True)
    name = StrictString()


class DeveloperMessageSchema(SystemMessageSchema):
    """A `developer` message: text only."""


class UserMessageSchema(BaseSchema):
    """A `user` message: text, images, audio and files."""

    role = StrictString(required=True)
    content = content_field(USER_PARTS, required=True)
    name = StrictString()


class AssistantAudioSchema(BaseSchema):
    """A reference to an earlier audio answer."""

    id = StrictString(required=True)


class FunctionCallSchema(BaseSchema):
    """The deprecated `function_call` of an assistant message."""

    name = StrictString(required=True)
    arguments = StrictString(required=True)


class AssistantMessageSchema(BaseSchema):
    """An `assistant` message; `content` may be null when it carries tool or function calls."""

    role = StrictString(required=True)
    content = content_field(ASSISTANT_PARTS, allow_none=True)
    refusal = StrictString(allow_none=True)
    name = StrictString()
    audio = Object(AssistantAudioSchema, allow_none=True)
    tool_calls = Array(Discriminated("type", TOOL_CALL_SCHEMAS), min_items=1)
    function_call = Object(FunctionCallSchema, allow_none=True)

    @ma.validates_schema
    def _content_or_calls(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("content") is not None or data.get("tool_calls"):
            return
        if data.get("function_call") is not None or data.get("audio") is not None:
            return
        if "content" not in data:
            raise ma.ValidationError(problems.missing(), field_name="content")
        raise ma.ValidationError(
            problems.invalid(
                "content may only be null when the assistant message has 'tool_calls' "
                "or 'function_call'."
            ),
            field_name="content",
        )


class ToolMessageSchema(BaseSchema):
    """A `tool` message: the result of the tool call named by `tool_call_id`."""

    role = StrictString(required=True)
    content = content_field(TEXT_ONLY, required=True)
    tool_call_id = StrictString(required=True)


class FunctionMessageSchema(BaseSchema):
    """A deprecated `function` message: the result of the function called `name`."""

    role = StrictString(required=True)
    content = StrictString(required=True, allow_none=True)
    name = StrictString(required=True)


MESSAGE_SCHEMAS: dict[str, type[ma.Schema]] = {
    "system": SystemMessageSchema,
    "developer": DeveloperMessageSchema,
    "user": UserMessageSchema,
    "assistant": AssistantMessageSchema,
    "tool": ToolMessageSchema,
    "function": FunctionMessageSchema,
}
