"""Anthropic backend: `reasoning_effort` as extended thinking, and the request rules it brings."""

from __future__ import annotations

import json

import pytest
import responses

from app.backends.anthropic.prefill import CONTINUE
from app.backends.anthropic.thinking import BUDGETS, model_mode
from tests.fakes.anthropic_wire import gateway_models, message
from tests.support import anthropic_requests
from tests.support.anthropic_requests import BASE, sent
from tests.support.openai_checks import check_invalid_param
from tests.support.provider_e2e import PERSON

config = anthropic_requests.config
upstream = anthropic_requests.upstream

SONNET_4_5 = "claude-sonnet-4-5"
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def refused(client, param: str, **body) -> dict:
    """POST a request the gateway must refuse itself: its 400 error, checked; nothing sent."""
    body = {"model": SONNET_4_5, "messages": [{"role": "user", "content": "Hi"}], **body}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{BASE}/v1/messages", json=message([{"type": "text", "text": "Hi"}]))
        response = client.post("/v1/chat/completions", json=body)
        assert not mock.calls
    assert response.status_code == 400
    return check_invalid_param(response.get_json(), param)


@pytest.mark.parametrize(("effort", "budget"), sorted(BUDGETS.items()))
def test_each_effort_sends_its_budget_with_room_to_answer(client, upstream, effort, budget):
    body = sent(client, upstream, model=SONNET_4_5, reasoning_effort=effort)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    # No client limit: the default 4096 alone would leave the answer little or no room.
    assert body["max_tokens"] == budget + 4096
    assert "output_config" not in body


@pytest.mark.parametrize("effort", [None, "none"])
def test_no_thinking_without_an_effort(client, upstream, effort):
    body = sent(client, upstream, model=SONNET_4_5, reasoning_effort=effort, temperature=0.2)
    assert "thinking" not in body
    assert (body["max_tokens"], body["temperature"]) == (4096, 0.2)


@pytest.mark.parametrize("model", ["claude-3-haiku", "claude-3-5-sonnet-latest", "claude-2.1"])
def test_models_that_cannot_think_ignore_the_effort(client, upstream, model):
    body = sent(client, upstream, model=model, reasoning_effort="high", temperature=0.2, top_k=3)
    assert "thinking" not in body
    assert (body["max_tokens"], body["temperature"], body["top_k"]) == (4096, 0.2, 3)


@pytest.mark.parametrize(
    ("model", "effort", "thinking", "output_config"),
    [
        ("claude-3-7-sonnet-20250219", "low", {"type": "enabled", "budget_tokens": 2048}, None),
        ("claude-opus-4-20250514", "low", {"type": "enabled", "budget_tokens": 2048}, None),
        ("claude-opus-4-1", "low", {"type": "enabled", "budget_tokens": 2048}, None),
        ("claude-opus-4-5-20251101", "low", {"type": "enabled", "budget_tokens": 2048}, None),
        ("claude-haiku-4-5", "low", {"type": "enabled", "budget_tokens": 2048}, None),
        ("claude-sonnet-4-20250514", "low", {"type": "enabled", "budget_tokens": 2048}, None),
        ("claude-sonnet-4-6", "medium", {"type": "adaptive"}, {"effort": "medium"}),
        ("claude-opus-4-6", "minimal", {"type": "adaptive"}, {"effort": "low"}),
        ("claude-opus-4-6", "max", {"type": "adaptive"}, {"effort": "max"}),
        # Opus 4.6 has no xhigh: the level rounds down.
        ("claude-opus-4-6", "xhigh", {"type": "adaptive"}, {"effort": "high"}),
        ("claude-opus-4-7", "xhigh", {"type": "adaptive"}, {"effort": "xhigh"}),
        ("claude-sonnet-5", "high", {"type": "adaptive"}, {"effort": "high"}),
    ],
)
def test_thinking_by_model(client, upstream, model, effort, thinking, output_config):
    body = sent(client, upstream, model=model, reasoning_effort=effort)
    assert body["thinking"] == thinking
    assert body.get("output_config") == output_config
    assert body["max_tokens"] == BUDGETS[effort] + 4096


def test_the_longest_prefix_decides():
    assert model_mode("claude-3-7-sonnet-latest").kind == "budget"
    assert model_mode("claude-3-opus-20240229").kind == "none"
    assert model_mode("claude-opus-4-6").efforts["xhigh"] == "high"
    assert model_mode("claude-opus-4-8").efforts["xhigh"] == "xhigh"


@pytest.mark.parametrize(
    ("limits", "effort", "budget"),
    [
        ({"max_completion_tokens": 100_000}, "high", 16384),
        ({"max_completion_tokens": 4000}, "high", 2000),  # half the limit: room for the answer
        ({"max_tokens": 1500}, "low", 1024),  # never below Anthropic's minimum
        ({"max_completion_tokens": 1025}, "minimal", 1024),
    ],
)
def test_the_budget_fits_under_the_client_limit(client, upstream, limits, effort, budget):
    body = sent(client, upstream, model=SONNET_4_5, reasoning_effort=effort, **limits)
    assert body["thinking"]["budget_tokens"] == budget
    assert body["max_tokens"] == next(iter(limits.values()))


@pytest.mark.parametrize(
    ("limits", "param"),
    [
        ({"max_completion_tokens": 1024}, "max_completion_tokens"),
        ({"max_tokens": 300}, "max_tokens"),
        ({"max_completion_tokens": 800, "max_tokens": 5000}, "max_completion_tokens"),
    ],
)
def test_a_limit_with_no_room_for_the_minimum_budget_is_refused(client, limits, param):
    error = refused(client, param, reasoning_effort="low", **limits)
    assert error.code == "integer_below_min_value"
    assert "1025" in error.message


def test_adaptive_thinking_keeps_a_small_client_limit(client, upstream):
    body = sent(client, upstream, model="claude-opus-4-6", reasoning_effort="low", max_tokens=300)
    assert (body["thinking"], body["max_tokens"]) == ({"type": "adaptive"}, 300)


@pytest.mark.parametrize(("default", "expected"), [(99, 2048 + 4096), (64000, 64000)])
def test_a_configured_default_limit_grows_only_as_needed(upstream, config, default, expected):
    from app import create_app

    models = gateway_models(BASE, "TEST_ANTHROPIC_KEY", default_max_tokens=default)
    client = create_app({**config, "MODELS": models}).test_client()
    body = sent(client, upstream, model=SONNET_4_5, reasoning_effort="low")
    assert (body["max_tokens"], body["thinking"]["budget_tokens"]) == (expected, 2048)


@pytest.mark.parametrize("temperature", [0, 0.2, 0.99])
def test_a_temperature_below_1_is_refused(client, temperature):
    error = refused(client, "temperature", reasoning_effort="high", temperature=temperature)
    assert error.code == "unsupported_value"
    assert error.message.startswith(
        f"Unsupported value: 'temperature' does not support {temperature} with this model"
    )
    assert "Only the default (1) value is supported." in error.message


@pytest.mark.parametrize("temperature", [1, 1.0, 1.7])
def test_a_temperature_of_1_or_more_is_anthropics_default(client, upstream, temperature):
    body = sent(
        client, upstream, model=SONNET_4_5, reasoning_effort="high", temperature=temperature
    )
    assert "temperature" not in body and "thinking" in body


def test_top_k_is_refused(client):
    assert refused(client, "top_k", reasoning_effort="low", top_k=40).code == (
        "unsupported_parameter"
    )


@pytest.mark.parametrize("top_p", [0.5, 0.94])
def test_top_p_below_0_95_is_refused(client, top_p):
    error = refused(client, "top_p", reasoning_effort="low", top_p=top_p)
    assert error.code == "unsupported_value"


def test_top_p_from_0_95_is_sent(client, upstream):
    body = sent(client, upstream, model=SONNET_4_5, reasoning_effort="low", top_p=0.97)
    assert body["top_p"] == 0.97


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [WEATHER], "tool_choice": "required"}, "tool_choice"),
        (
            {
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            },
            "tool_choice",
        ),
        (
            {
                "tools": [WEATHER],
                "tool_choice": {
                    "type": "allowed_tools",
                    "allowed_tools": {"mode": "required", "tools": [WEATHER]},
                },
            },
            "tool_choice",
        ),
        # Claude Sonnet 4 thinks but has no structured outputs: its json_schema is a forced tool.
        ({"model": "claude-sonnet-4-0", "response_format": PERSON}, "response_format"),
        (
            {"model": "claude-sonnet-4-0", "tools": [WEATHER], "response_format": PERSON},
            "response_format",
        ),
        ({"tools": [WEATHER], "tool_choice": "required", "response_format": PERSON}, "tool_choice"),
        (
            {"functions": [WEATHER["function"]], "function_call": {"name": "get_weather"}},
            "function_call",
        ),
    ],
)
def test_forced_tool_use_is_refused(client, extra, param):
    error = refused(client, param, reasoning_effort="medium", **extra)
    assert error.code == "unsupported_value"
    assert "forced tool use" in error.message


@pytest.mark.parametrize(
    ("extra", "choice"),
    [
        ({"tools": [WEATHER]}, None),
        ({"tools": [WEATHER], "tool_choice": "none"}, {"type": "none"}),
        ({"functions": [WEATHER["function"]]}, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tool_choices_that_leave_the_choice_to_the_model_think(client, upstream, extra, choice):
    body = sent(client, upstream, model=SONNET_4_5, reasoning_effort="medium", **extra)
    assert body.get("tool_choice") == choice and "thinking" in body


def test_a_final_assistant_message_is_history_followed_by_a_user_turn(client, upstream):
    messages = [
        {"role": "user", "content": "Summarise our talk."},
        {"role": "assistant", "content": "We spoke about foxes."},
    ]
    body = sent(client, upstream, model=SONNET_4_5, messages=messages, reasoning_effort="low")
    assert body["messages"][-2:] == [
        {"role": "assistant", "content": [{"type": "text", "text": "We spoke about foxes."}]},
        {"role": "user", "content": [{"type": "text", "text": CONTINUE}]},
    ]
    # Sent once: no refused prefill to retry.
    assert len(upstream.calls) == 1
    assert json.loads(upstream.calls[0].request.body)["thinking"]["type"] == "enabled"
