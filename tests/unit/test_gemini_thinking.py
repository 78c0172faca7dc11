"""Gemini backend: `reasoning_effort` as the thinking setting each model family takes."""

from __future__ import annotations

import pytest

from app.backends.gemini.thinking import thinking_config, with_effort
from app.errors import InvalidRequestError
from tests.fakes.gemini_checks import BadRequest, check_request
from tests.unit.gemini_helpers import BASE, OK, chat, gemini_client, sent

EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
# model → the thinking setting sent for each of EFFORTS, in order; each one is checked against
# what the fake Gemini API takes for that model.
EXPECTED = {
    # Pro takes low and high: none/minimal get its least thinking, medium its default.
    "gemini-3-pro-preview": ("low", "low", "low", "high", "high", "high", "high"),
    "gemini-3.1-pro-preview": ("low", "low", "low", "medium", "high", "high", "high"),
    "gemini-3-flash-preview": ("minimal", "minimal", "low", "medium", "high", "high", "high"),
    # 2.5 Pro cannot turn thinking off: none is its smallest budget.
    "gemini-2.5-pro": (128, 512, 1024, 8192, 24576, -1, -1),
    "gemini-2.5-flash": (0, 512, 1024, 8192, 24576, -1, -1),
    "gemini-2.5-flash-lite": (0, 512, 1024, 8192, 24576, -1, -1),
}


def url(model: str) -> str:
    return f"{BASE}/models/{model}:generateContent"


@pytest.fixture
def client(monkeypatch):
    return gemini_client(monkeypatch)


@pytest.mark.parametrize(("model", "effort", "value"), [
    (model, effort, value)
    for model, values in EXPECTED.items()
    for effort, value in zip(EFFORTS, values, strict=True)
])  # fmt: skip
def test_each_effort_maps_to_what_the_model_family_takes(client, upstream, model, effort, value):
    upstream.post(url(model), json=OK)
    assert chat(client, model=model, reasoning_effort=effort).status_code == 200
    body = sent(upstream)
    key = "thinkingLevel" if isinstance(value, str) else "thinkingBudget"
    assert body["generationConfig"] == {"thinkingConfig": {key: value}}
    check_request(body, model)


def test_the_request_effort_replaces_only_the_default_budget_or_level(monkeypatch, upstream):
    defaults = {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}}
    client = gemini_client(monkeypatch, generation_config=defaults)
    model = "gemini-3-flash-preview"
    upstream.post(url(model), json=OK)
    upstream.post(url(model), json=OK)
    assert chat(client, model=model, reasoning_effort="low").status_code == 200
    body = sent(upstream)
    # Both set at once is a 400; the default's other settings still apply.
    assert body["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True,
        "thinkingLevel": "low",
    }
    check_request(body, model)
    assert chat(client, model=model).status_code == 200
    assert sent(upstream)["generationConfig"] == defaults


def test_the_upstream_id_decides_not_the_client_s_name(client, upstream):
    upstream.post(url("gemini-2.5-flash"), json=OK)
    # The test gateway maps gpt-4o to gemini-2.5-flash: a budget, not a level.
    assert chat(client, model="gpt-4o", reasoning_effort="none").status_code == 200
    assert sent(upstream)["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}}


@pytest.mark.parametrize("model", ["gemini-2.0-flash", "gemini-2.0-flash-lite", "gemini-1.5-pro"])
def test_models_that_take_no_thinking_setting_get_none(client, upstream, model):
    # Gemini answers any thinkingConfig for them with 400 "thinking is not supported".
    upstream.post(url(model), json=OK)
    assert chat(client, model=model, reasoning_effort="high").status_code == 200
    body = sent(upstream)
    assert "generationConfig" not in body
    check_request(body, model)
    with pytest.raises(BadRequest):
        check_request(
            {**body, "generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}, model
        )


def test_gemma_models_take_no_thinking_setting_either():
    assert with_effort(None, "high", "models/gemma-3-27b-it") is None


def test_a_default_thinking_setting_stays_as_the_operator_wrote_it(monkeypatch, upstream):
    defaults = {"thinkingConfig": {"includeThoughts": True}}
    client = gemini_client(monkeypatch, generation_config=defaults)
    upstream.post(url("gemini-2.0-flash"), json=OK)
    assert chat(client, model="gemini-2.0-flash", reasoning_effort="low").status_code == 200
    assert sent(upstream)["generationConfig"] == defaults


def test_an_unknown_effort_is_refused_for_models_without_thinking_too(client):
    response = chat(client, model="gemini-2.0-flash", reasoning_effort="extreme")
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "reasoning_effort"


def test_a_models_prefix_does_not_hide_the_family():
    assert thinking_config("none", "models/gemini-3-pro-preview") == {"thinkingLevel": "low"}
    assert thinking_config("none", "models/gemini-2.5-pro") == {"thinkingBudget": 128}


def test_an_unknown_effort_is_refused():
    with pytest.raises(InvalidRequestError) as info:
        thinking_config("extreme", "gemini-3-pro-preview")
    assert info.value.param == "reasoning_effort"


@pytest.mark.parametrize(
    ("model", "thinking"),
    [
        ("gemini-3-flash-preview", {"thinkingLevel": "low", "thinkingBudget": 1024}),
        ("gemini-2.5-pro", {"thinkingBudget": 0}),
        ("gemini-2.5-pro", {"thinkingBudget": 64}),
        ("gemini-3-pro-preview", {"thinkingLevel": "minimal"}),
        ("gemini-3-pro-preview", {"thinkingLevel": "medium"}),
        ("gemini-3.1-pro-preview", {"thinkingLevel": "minimal"}),
        ("gemini-2.5-flash", {"thinkingLevel": "low"}),
    ],
)
def test_fake_gemini_refuses_thinking_settings_the_model_does_not_take(model, thinking):
    body = {
        "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        "generationConfig": {"thinkingConfig": thinking},
    }
    with pytest.raises(BadRequest):
        check_request(body, model)
