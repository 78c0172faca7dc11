"""The shipped t3chat preset: a complete models file with the usual name mapping."""

from __future__ import annotations

import pytest

from app import create_app
from app.routing import load_models_file
from tests.support.servers import ROOT

PRESET = ROOT / "config" / "presets" / "t3chat.yaml"


@pytest.fixture
def registry():
    app = create_app({"TESTING": True, "MODELS": load_models_file(PRESET)})
    return app.extensions["gateway.models"]


@pytest.mark.parametrize(
    "name, upstream",
    [
        ("gpt-3.5-turbo", "gemini-2.5-flash-lite"),
        ("gpt-4o-mini", "gemini-2.5-flash-lite"),
        ("gpt-4", "gemini-2.5-flash"),
        ("gpt-4-turbo", "gemini-2.5-flash"),
        ("gpt-4o", "gemini-2.5-flash"),
        ("claude-3-sonnet", "claude-3.5-sonnet"),
        ("claude-3-haiku", "claude-3-haiku"),
        ("claude-3-opus", "claude-3-opus"),
        ("kimi-k2", "kimi-k2"),
        ("gemini-2.5-pro", "gemini-2.5-pro"),
    ],
)
def test_preset_mapping(registry, name, upstream):
    route = registry.resolve(name)
    assert (route.backend, route.upstream_model) == ("t3chat", upstream)


def test_preset_backend_defaults():
    backend = load_models_file(PRESET)["backends"]["t3chat"]
    assert backend["type"] == "t3chat" and backend["base_url"] == "https://t3.chat"
    assert backend["include_search"] is False
