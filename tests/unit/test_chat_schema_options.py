"""Invalid chat options (sampling, tools, formats...): a 400 naming the exact `param` path."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.openai_checks import check_invalid_param

USER = {"role": "user", "content": "hi"}
TOOLS = [{"type": "function", "function": {"name": "f"}}]
CUSTOM = [{"type": "custom", "custom": {"name": "c"}}]
DROP = object()


def body(**fields: Any) -> dict[str, Any]:
    """A valid request changed by `fields` (DROP removes a field)."""
    out = {"model": "mock", "messages": [USER], **fields}
    return {key: value for key, value in out.items() if value is not DROP}


def fn_tool(**function: Any) -> dict[str, Any]:
    """A request with one function tool made of `function`."""
    return body(tools=[{"type": "function", "function": function}])


CASES = [
    # Sampling ranges and strict JSON types
    (body(temperature=2.01), "temperature"),
    (body(temperature=-0.1), "temperature"),
    (body(temperature="0.5"), "temperature"),
    (body(temperature=True), "temperature"),
    (body(top_p=1.5), "top_p"),
    (body(frequency_penalty=-2.5), "frequency_penalty"),
    (body(presence_penalty=3), "presence_penalty"),
    (body(n=0), "n"),
    (body(n=17), "n"),
    (body(n=1.0), "n"),
    (body(n="2"), "n"),
    (body(seed=1.5), "seed"),
    (body(seed=2**63), "seed"),
    (body(max_tokens=0), "max_tokens"),
    (body(max_tokens=-5), "max_tokens"),
    (body(max_completion_tokens=0), "max_completion_tokens"),
    (body(max_completion_tokens=1.5), "max_completion_tokens"),
    (body(logprobs=1), "logprobs"),
    (body(top_logprobs=21, logprobs=True), "top_logprobs"),
    (body(top_logprobs=-1, logprobs=True), "top_logprobs"),
    (body(top_logprobs=2), "top_logprobs"),
    (body(top_logprobs=2, logprobs=False), "top_logprobs"),
    (body(logit_bias=[1]), "logit_bias"),
    (body(logit_bias={"hello": 1}), "logit_bias"),
    (body(logit_bias={"-1": 1}), "logit_bias"),
    (body(logit_bias={"50256": 101}), "logit_bias.50256"),
    (body(logit_bias={"50256": -100.5}), "logit_bias.50256"),
    (body(logit_bias={"50256": "5"}), "logit_bias.50256"),
    (body(stop=5), "stop"),
    (body(stop=[]), "stop"),
    (body(stop=["a", "b", "c", "d", "e"]), "stop"),
    (body(stop=["a", 1]), "stop[1]"),
    # Streaming
    (body(stream="true"), "stream"),
    (body(stream=1), "stream"),
    (body(stream_options={"include_usage": True}), "stream_options"),
    (body(stream=False, stream_options={"include_usage": True}), "stream_options"),
    (body(stream=True, stream_options={"include_usage": "yes"}), "stream_options.include_usage"),
    (body(stream=True, stream_options=[]), "stream_options"),
    # Tools
    (body(tools={}), "tools"),
    (body(tools=[{"function": {"name": "f"}}]), "tools[0].type"),
    (body(tools=[{"type": "retrieval"}]), "tools[0].type"),
    (body(tools=[{"type": "function"}]), "tools[0].function"),
    (fn_tool(), "tools[0].function.name"),
    (fn_tool(name="get weather"), "tools[0].function.name"),
    (fn_tool(name="f" * 65), "tools[0].function.name"),
    (fn_tool(name="f", parameters=[]), "tools[0].function.parameters"),
    (fn_tool(name="f", strict="yes"), "tools[0].function.strict"),
    (fn_tool(name="f", description=5), "tools[0].function.description"),
    (body(tools=[{"type": "custom", "custom": {}}]), "tools[0].custom.name"),
    (
        body(tools=[{"type": "custom", "custom": {"name": "c", "format": {"type": "x"}}}]),
        "tools[0].custom.format.type",
    ),
    (body(tools=TOOLS, tool_choice="any"), "tool_choice"),
    (body(tools=TOOLS, tool_choice=5), "tool_choice"),
    (body(tool_choice="auto"), "tool_choice"),
    (body(tool_choice="required", tools=[]), "tools"),
    (body(tools=TOOLS, tool_choice={"type": "function"}), "tool_choice.function"),
    (
        body(tools=TOOLS, tool_choice={"type": "function", "function": {}}),
        "tool_choice.function.name",
    ),
    (
        body(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "g"}}),
        "tool_choice.function.name",
    ),
    (
        body(tools=CUSTOM, tool_choice={"type": "function", "function": {"name": "c"}}),
        "tool_choice.function.name",
    ),
    (
        body(tools=TOOLS, tool_choice={"type": "custom", "custom": {"name": "f"}}),
        "tool_choice.custom.name",
    ),
    (
        body(tools=TOOLS, tool_choice={"type": "allowed_tools", "allowed_tools": {"tools": []}}),
        "tool_choice.allowed_tools.mode",
    ),
    (body(tools=TOOLS, tool_choice={"type": "tool"}), "tool_choice.type"),
    (body(parallel_tool_calls="true"), "parallel_tool_calls"),
    (body(parallel_tool_calls=None), "parallel_tool_calls"),
    # Deprecated functions
    (body(functions=[]), "functions"),
    (body(functions=[{}]), "functions[0].name"),
    (body(functions=[{"name": "a b"}]), "functions[0].name"),
    (body(functions=[{"name": "f"}], function_call="required"), "function_call"),
    (body(functions=[{"name": "f"}], function_call={"name": "g"}), "function_call.name"),
    (body(functions=[{"name": "f"}], function_call={}), "function_call.name"),
    (body(function_call={"name": "f"}), "function_call"),
    # Response format
    (body(response_format="json"), "response_format"),
    (body(response_format={"type": "xml"}), "response_format.type"),
    (body(response_format={"type": "json_schema"}), "response_format.json_schema"),
    (
        body(response_format={"type": "json_schema", "json_schema": {}}),
        "response_format.json_schema.name",
    ),
    (
        body(response_format={"type": "json_schema", "json_schema": {"name": "my schema"}}),
        "response_format.json_schema.name",
    ),
    (
        body(response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": []}}),
        "response_format.json_schema.schema",
    ),
    (
        body(response_format={"type": "json_schema", "json_schema": {"name": "s", "strict": 1}}),
        "response_format.json_schema.strict",
    ),
    # Output options
    (body(modalities="text"), "modalities"),
    (body(modalities=["video"]), "modalities[0]"),
    (body(audio={"format": "mp3"}), "audio.voice"),
    (body(audio={"voice": "alloy", "format": "ogg"}), "audio.format"),
    (body(audio={"voice": 5, "format": "mp3"}), "audio.voice"),
    (body(audio={"voice": {}, "format": "mp3"}), "audio.voice.id"),
    (body(prediction={"type": "diff", "content": "x"}), "prediction.type"),
    (body(prediction={"type": "content"}), "prediction.content"),
    (body(prediction={"type": "content", "content": []}), "prediction.content"),
    (
        body(prediction={"type": "content", "content": [{"type": "text"}]}),
        "prediction.content[0].text",
    ),
    (body(verbosity="max"), "verbosity"),
    (body(reasoning_effort="extreme"), "reasoning_effort"),
    (body(service_tier="gold"), "service_tier"),
    (body(web_search_options=None), "web_search_options"),
    (
        body(web_search_options={"search_context_size": "huge"}),
        "web_search_options.search_context_size",
    ),
    (
        body(web_search_options={"user_location": {"type": "exact", "approximate": {}}}),
        "web_search_options.user_location.type",
    ),
    # Bookkeeping
    (body(user=5), "user"),
    (body(store="no"), "store"),
    (body(metadata=[]), "metadata"),
    (body(metadata={str(i): "v" for i in range(17)}), "metadata"),
    (body(metadata={"k": 1}), "metadata.k"),
    (body(metadata={"k": "v" * 513}), "metadata.k"),
    (body(metadata={"k" * 65: "v"}), "metadata"),
    (body(safety_identifier="s" * 65), "safety_identifier"),
    (body(prompt_cache_key=5), "prompt_cache_key"),
    (body(prompt_cache_retention="1h"), "prompt_cache_retention"),
    (body(prompt_cache_options={"ttl": "1h"}), "prompt_cache_options.ttl"),
    (body(prompt_cache_options={"mode": "auto"}), "prompt_cache_options.mode"),
    (body(moderation={}), "moderation.model"),
    (
        body(moderation={"model": "m", "policy": {"input": {"mode": "x"}}}),
        "moderation.policy.input.mode",
    ),
]


@pytest.mark.parametrize(("payload", "param"), CASES, ids=[param for _, param in CASES])
def test_invalid_payload_names_its_param(client, payload, param):
    response = client.post("/v1/chat/completions", json=payload)
    assert response.status_code == 400, response.get_data(as_text=True)
    check_invalid_param(response.get_json(), param)
