"""An OpenAI chat completion request as a Gemini `generateContent` request body."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.backends.gemini.contents import Conversation, build_contents
from app.backends.gemini.names import FunctionNames
from app.backends.gemini.schema import (
    plain_json_schema,
    to_gemini_schema,
    with_property_ordering,
)
from app.backends.gemini.thinking import with_effort
from app.backends.gemini.tools import ThoughtSignatures, tool_fields
from app.backends.images import ImagePolicy
from app.backends.translate import max_output_tokens, stop_sequences
from app.errors import InvalidRequestError, UnsupportedError

MAX_STOP_SEQUENCES = 5
# OpenAI request fields copied as they are into generationConfig.
_SAME_VALUE = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("top_k", "topK"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)


@dataclass(frozen=True)
class RequestOptions:
    """Backend settings that shape every request (from the models file)."""

    images: ImagePolicy = ImagePolicy()
    schema_mode: str = "openapi"
    generation_config: Mapping[str, Any] | None = None
    safety_settings: list[dict[str, Any]] | None = None
    placeholder_signature: bool = False


def build_request(
    body: dict[str, Any],
    options: RequestOptions,
    signatures: ThoughtSignatures,
    model: str,
) -> dict[str, Any]:
    """The JSON body for `models/{model}:generateContent` (and its streaming twin); `model`
    is the upstream id, which decides how `reasoning_effort` is sent."""
    _refuse_unsupported(body)
    names = FunctionNames.of(body)
    conversation = Conversation(
        options.images, signatures, options.placeholder_signature, function_names=names
    )
    contents, system = build_contents(body["messages"], conversation)
    request: dict[str, Any] = {"contents": contents}
    if system is not None:
        request["systemInstruction"] = system
    request.update(tool_fields(body, options.schema_mode, names))
    if options.safety_settings:
        request["safetySettings"] = list(options.safety_settings)
    config = generation_config(body, options, model)
    if config:
        request["generationConfig"] = config
    return request


def generation_config(body: dict[str, Any], options: RequestOptions, model: str) -> dict[str, Any]:
    """`generationConfig` for `model`: the backend's defaults overridden by what the request
    sets."""
    config: dict[str, Any] = dict(options.generation_config or {})
    for openai_name, gemini_name in _SAME_VALUE:
        if body.get(openai_name) is not None:
            config[gemini_name] = body[openai_name]
    if "seed" in config:
        config["seed"] = _int32(config["seed"])
    limit = max_output_tokens(body)
    if limit is not None:
        config["maxOutputTokens"] = limit
    stops = stop_sequences(body)
    if len(stops) > MAX_STOP_SEQUENCES:
        raise InvalidRequestError(
            f"Gemini accepts at most {MAX_STOP_SEQUENCES} stop sequences.", param="stop"
        )
    if stops:
        config["stopSequences"] = stops
    if (body.get("n") or 1) > 1:
        config["candidateCount"] = body["n"]
    effort = body.get("reasoning_effort")
    if effort is not None:
        thinking = with_effort(config.get("thinkingConfig"), effort, model)
        if thinking is not None:
            config["thinkingConfig"] = thinking
    if body.get("logprobs"):
        config["responseLogprobs"] = True
        if body.get("top_logprobs"):
            # Gemini's `logprobs` (0-20 alternatives per token) is OpenAI's top_logprobs.
            config["logprobs"] = body["top_logprobs"]
    config.update(_response_format(body.get("response_format"), options.schema_mode))
    return config


def _response_format(response_format: Any, schema_mode: str) -> dict[str, Any]:
    """JSON mode and structured output: a JSON MIME type, plus the schema when one is given."""
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        config: dict[str, Any] = {"responseMimeType": "application/json"}
        if schema is None:
            return config
        if schema_mode == "json":
            config["responseJsonSchema"] = plain_json_schema(schema)
        else:
            reduced = to_gemini_schema(schema, "response_format.json_schema.schema")
            config["responseSchema"] = with_property_ordering(reduced)
        return config
    raise InvalidRequestError(
        f"Invalid value for `response_format.type`: {kind!r}.", param="response_format.type"
    )


def _int32(seed: Any) -> Any:
    """OpenAI takes 64-bit seeds, Gemini's `seed` is an int32: larger ones are wrapped around
    (two's complement), so a given seed still always gives the same Gemini seed."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        return seed
    return (seed + 2**31) % 2**32 - 2**31


def _refuse_unsupported(body: dict[str, Any]) -> None:
    """Features the translation cannot honour are refused instead of silently ignored."""
    if "audio" in (body.get("modalities") or []) or body.get("audio"):
        raise UnsupportedError("This model does not produce audio output.", param="modalities")
