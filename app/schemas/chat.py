"""Schema for `POST /v1/chat/completions` (CreateChatCompletionRequest)."""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask import current_app, has_app_context

from app.schemas import options, problems
from app.schemas import tools as tool_schemas
from app.schemas.base import (
    Array,
    BaseSchema,
    ByType,
    Choice,
    Discriminated,
    JSONObject,
    Object,
    StrictBoolean,
    StrictInteger,
    StrictNumber,
    StrictString,
)
from app.schemas.messages import MESSAGE_SCHEMAS

_INT64 = 2**63
_TOKEN_ID = re.compile(r"[0-9]+", re.ASCII)
# The spec's maximum for `n` (chat and legacy completions), and for `tools` and `functions`.
_SPEC_MAX_N = 128
_SPEC_MAX_TOOLS = 128


def _setting(name: str, default: int) -> Any:
    """A limit from the app config, read at load time so each app can set its own."""
    return lambda: current_app.config.get(name, default) if has_app_context() else default


def max_n() -> int:
    """The largest `n` this gateway accepts: `GATEWAY_MAX_N`, never above the spec's 128."""
    return min(int(_setting("GATEWAY_MAX_N", 16)()), _SPEC_MAX_N)


class LogitBias(JSONObject):
    """`logit_bias`: token ids (as strings) mapped to integer biases from -100 to 100."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(values=StrictInteger(minimum=-100, maximum=100), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if type(value) is dict:
            for key in value:
                if not _TOKEN_ID.fullmatch(key):
                    raise ma.ValidationError(
                        problems.invalid(
                            f"key {problems.shown(key)} is not a token id. Keys must be "
                            "non-negative integers given as strings, e.g. '50256'."
                        )
                    )
        return super()._deserialize(value, attr, data, **kwargs)


class ChatCompletionRequestSchema(BaseSchema):
    """The chat completion request; unknown top-level fields are kept."""

    model = StrictString(required=True)
    messages = Array(
        Discriminated("role", MESSAGE_SCHEMAS),
        required=True,
        min_items=1,
        max_items=_setting("GATEWAY_MAX_MESSAGES", 2048),
    )
    # Sampling
    temperature = StrictNumber(allow_none=True, minimum=0, maximum=2)
    top_p = StrictNumber(allow_none=True, minimum=0, maximum=1)
    frequency_penalty = StrictNumber(allow_none=True, minimum=-2, maximum=2)
    presence_penalty = StrictNumber(allow_none=True, minimum=-2, maximum=2)
    n = StrictInteger(allow_none=True, minimum=1, maximum=max_n)
    seed = StrictInteger(allow_none=True, minimum=-_INT64, maximum=_INT64 - 1)
    stop = ByType(
        {str: StrictString(), list: Array(StrictString(), min_items=1, max_items=4)},
        "one of a string or array of strings",
        allow_none=True,
    )
    max_tokens = StrictInteger(allow_none=True, minimum=1)
    max_completion_tokens = StrictInteger(allow_none=True, minimum=1)
    logit_bias = LogitBias(allow_none=True)
    logprobs = StrictBoolean(allow_none=True)
    top_logprobs = StrictInteger(allow_none=True, minimum=0, maximum=20)
    # Streaming
    stream = StrictBoolean(allow_none=True)
    stream_options = Object(options.StreamOptionsSchema, allow_none=True)
    # Tools and output shape
    # The spec sets no minimum, but OpenAI answers `tools: []` with 400 empty_array.
    tools = Array(
        Discriminated("type", tool_schemas.TOOL_SCHEMAS), min_items=1, max_items=_SPEC_MAX_TOOLS
    )
    tool_choice = tool_schemas.tool_choice_field()
    parallel_tool_calls = StrictBoolean()
    functions = Array(
        Object(tool_schemas.FunctionDeclarationSchema), min_items=1, max_items=_SPEC_MAX_TOOLS
    )
    function_call = tool_schemas.function_call_field()
    response_format = options.response_format_field()
    modalities = Array(Choice(("text", "audio")), allow_none=True)
    audio = Object(options.AudioOutputSchema, allow_none=True)
    prediction = Object(options.PredictionSchema, allow_none=True)
    verbosity = Choice(("low", "medium", "high"), allow_none=True)
    reasoning_effort = Choice(
        ("none", "minimal", "low", "medium", "high", "xhigh", "max"), allow_none=True
    )
    web_search_options = Object(options.WebSearchOptionsSchema)
    # Bookkeeping
    user = StrictString()
    safety_identifier = StrictString(allow_none=True, max_length=64)
    metadata = JSONObject(
        allow_none=True,
        values=StrictString(max_length=512),
        max_properties=16,
        max_key_length=64,
    )
    store = StrictBoolean(allow_none=True)
    service_tier = Choice(("auto", "default", "flex", "scale", "priority", "fast"), allow_none=True)
    prompt_cache_key = StrictString(allow_none=True)
    prompt_cache_retention = Choice(("in_memory", "24h"), allow_none=True)
    prompt_cache_options = Object(options.PromptCacheOptionsSchema)
    moderation = Object(options.ModerationSchema, allow_none=True)

    @ma.validates_schema
    def _combinations(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("top_logprobs") is not None and data.get("logprobs") is not True:
            raise ma.ValidationError(
                problems.invalid("'top_logprobs' is only allowed when 'logprobs' is true."),
                field_name="top_logprobs",
            )
        if data.get("stream_options") is not None and data.get("stream") is not True:
            raise ma.ValidationError(
                problems.invalid("'stream_options' is only allowed when 'stream' is true."),
                field_name="stream_options",
            )
        tool_schemas.check_tool_choice(data)
        tool_schemas.check_parallel_tool_calls(data)
        tool_schemas.check_function_call(data)
