"""Request checks of the fake Gemini API: the shapes the real v1beta API accepts."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

REQUEST_KEYS = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
}
GENERATION_KEYS = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
}
SCHEMA_KEYS = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
    "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum",
}  # fmt: skip
SCHEMA_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT"}
PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse")
# "Invalid function name. Must start with a letter or an underscore. Must be a-z, A-Z, 0-9, or
# contain underscores, dots, colons, or dashes, with a maximum length of 64."
FUNCTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
# The thinkingLevel values Gemini 3 models take, by model id prefix (the first match wins);
# Gemini 2.5 models take none.
THINKING_LEVELS = (
    ("gemini-3-pro", {"low", "high"}),
    ("gemini-3.1-pro", {"low", "medium", "high"}),
    ("gemini-3", {"minimal", "low", "medium", "high"}),
)
# The thinkingBudget range of Gemini 2.5 models besides -1 (dynamic): (prefix, lowest, highest,
# whether 0 turns thinking off). 2.5 Pro cannot turn it off.
THINKING_BUDGETS = (
    ("gemini-2.5-pro", 128, 32768, False),
    ("gemini-2.5-flash-lite", 512, 24576, True),
    ("gemini-2.5-flash", 1, 24576, True),
)

# Models that think not at all (or only on their own): any thinkingConfig is refused.
NO_THINKING = ("gemini-1.", "gemini-2.0", "gemma")


class BadRequest(ValueError):
    """A request the real API would refuse with INVALID_ARGUMENT."""


def check_request(body: Any, model: str = "") -> None:
    """Raise BadRequest unless `body` is a well-formed GenerateContentRequest for `model` (the
    id in the URL; thinking settings are checked against it when it is known)."""
    _require(isinstance(body, dict), "request body must be an object")
    unknown = set(body) - REQUEST_KEYS
    _require(not unknown, f"Invalid JSON payload received. Unknown name {sorted(unknown)}")
    contents = body.get("contents")
    _require(isinstance(contents, list) and contents, "* contents: contents is not specified")
    calls: list[str] = []
    for i, content in enumerate(contents):
        _require(content.get("role") in ("user", "model"), f"contents[{i}].role is invalid")
        if i:
            _require(content["role"] != contents[i - 1]["role"], "roles must alternate")
        elif content["role"] == "model":
            _require(
                not any("functionCall" in p for p in content.get("parts") or []),
                "Please ensure that function call turn comes immediately after a user turn or "
                "after a function response turn.",
            )
        parts = content.get("parts")
        _require(isinstance(parts, list) and parts, f"contents[{i}].parts must not be empty")
        for part in parts:
            _check_part(part, calls)
        calls = [p["functionCall"]["name"] for p in parts if "functionCall" in p] or calls
    system = body.get("systemInstruction")
    if system is not None:
        _require(all("text" in p for p in system.get("parts") or [None]), "bad systemInstruction")
    for tool in body.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            _require(bool(declaration.get("name")), "function declaration needs a name")
            _check_name(declaration["name"])
            if "parameters" in declaration:
                check_schema(declaration["parameters"], "parameters")
    _check_tool_config(body.get("toolConfig"))
    _check_generation_config(body.get("generationConfig") or {}, model)


def check_schema(schema: Any, where: str) -> None:
    """Raise BadRequest for keywords outside Gemini's Schema subset."""
    _require(isinstance(schema, dict), f"{where}: schema must be an object")
    unknown = sorted(set(schema) - SCHEMA_KEYS)
    if unknown:
        raise BadRequest(f"Unknown name \"{unknown[0]}\" at '{where}': Cannot find field.")
    if "type" in schema:
        _require(schema["type"] in SCHEMA_TYPES, f"{where}.type: invalid value {schema['type']}")
    if "enum" in schema:
        _require(schema.get("type", "STRING") == "STRING", f"{where}.enum: only for STRING")
    if schema.get("type") == "OBJECT" and where == "parameters":
        _require(bool(schema.get("properties")), f"{where}.properties: should be non-empty")
    for name, sub in (schema.get("properties") or {}).items():
        check_schema(sub, f"{where}.properties[{name}]")
    for name in schema.get("required") or []:
        _require(name in (schema.get("properties") or {}), f"{where}: {name} is not defined")
    if "items" in schema:
        check_schema(schema["items"], f"{where}.items")
    for k, sub in enumerate(schema.get("anyOf") or []):
        check_schema(sub, f"{where}.anyOf[{k}]")


def _check_part(part: Any, calls: list[str]) -> None:
    data = [key for key in PART_DATA if key in part]
    _require(len(data) == 1, f"a part needs exactly one data field, got {data}")
    extra = set(part) - set(PART_DATA) - {"thought", "thoughtSignature"}
    _require(not extra, f"Unknown name {sorted(extra)} in part")
    if "text" in part:
        _require(isinstance(part["text"], str) and part["text"] != "", "empty text parameter")
    if "inlineData" in part:
        inline = part["inlineData"]
        _require(bool(inline.get("mimeType")), "inlineData.mimeType is required")
        _require(inline["mimeType"] != "image/jpg", "Unsupported MIME type: image/jpg")
        try:
            base64.b64decode(inline.get("data", ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("inlineData.data is not base64") from exc
    if "functionCall" in part:
        call = part["functionCall"]
        _require(bool(call.get("name")) and isinstance(call.get("args", {}), dict), "bad call")
        _check_name(call["name"])
    if "functionResponse" in part:
        response = part["functionResponse"]
        _require(isinstance(response.get("response"), dict), "functionResponse.response: object")
        _require(response.get("name") in calls, "functionResponse names no preceding call")


def _check_tool_config(config: Any) -> None:
    if config is None:
        return
    calling = config.get("functionCallingConfig") or {}
    _require(calling.get("mode") in ("AUTO", "ANY", "NONE", "VALIDATED"), "bad mode")
    if "allowedFunctionNames" in calling:
        _require(calling["mode"] == "ANY", "allowedFunctionNames needs mode ANY")
        for name in calling["allowedFunctionNames"]:
            _check_name(name)


def _check_generation_config(config: dict[str, Any], model: str) -> None:
    unknown = set(config) - GENERATION_KEYS
    _require(not unknown, f"Unknown name {sorted(unknown)} at 'generation_config'")
    _require(len(config.get("stopSequences") or []) <= 5, "at most 5 stop sequences")
    if "seed" in config:
        # An int32 field of the GenerationConfig proto.
        seed = config["seed"]
        _require(isinstance(seed, int) and -(2**31) <= seed < 2**31, "Invalid value at seed")
    if "responseSchema" in config:
        _require(config.get("responseMimeType") == "application/json", "schema needs JSON mime")
        check_schema(config["responseSchema"], "generation_config.response_schema")
    if "logprobs" in config:
        _require(config.get("responseLogprobs") is True, "logprobs needs responseLogprobs")
        _require(config["logprobs"] in range(21), "logprobs must be in the range [0, 20]")
    _check_thinking(config.get("thinkingConfig"), model)


def _check_thinking(thinking: Any, model: str) -> None:
    if thinking is None:
        return
    _require(isinstance(thinking, dict), "thinkingConfig must be an object")
    _require(
        not model.startswith(NO_THINKING),
        "Unable to submit request because thinking is not supported by this model.",
    )
    level, budget = thinking.get("thinkingLevel"), thinking.get("thinkingBudget")
    _require(
        level is None or budget is None,
        "thinkingBudget and thinkingLevel cannot both be set",
    )
    levels = next((v for prefix, v in THINKING_LEVELS if model.startswith(prefix)), None)
    if level is not None and model:
        _require(levels is not None, "Thinking level is not supported for this model.")
        _require(level in levels, f"Thinking level {level} is not supported for this model.")
    ranges = [r for r in THINKING_BUDGETS if model.startswith(r[0])]
    if budget is not None and ranges:
        _, lowest, highest, can_stop = ranges[0]
        allowed = budget == -1 or lowest <= budget <= highest or (budget == 0 and can_stop)
        _require(
            allowed,
            f"The thinking budget {budget} is invalid. Please choose a value between "
            f"{lowest} and {highest}.",
        )


def _check_name(name: Any) -> None:
    _require(
        isinstance(name, str) and FUNCTION_NAME.fullmatch(name) is not None,
        "Invalid function name. Must start with a letter or an underscore. Must be a-z, A-Z, "
        "0-9, or contain underscores, dots, colons, or dashes, with a maximum length of 64.",
    )


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise BadRequest(message)
