"""The shipped Gemini and Anthropic presets: OpenAI-style names mapped, provider names passed on."""

from __future__ import annotations

from typing import Any

import pytest

from app import create_app
from app.errors import ModelNotFoundError
from app.routing import load_models_file
from tests.support.servers import ROOT

PRESETS = ROOT / "config" / "presets"

# Every exact entry of each preset, as the public id and the provider model it is sent as.
LISTED = {
    "gemini": {
        "gpt-3.5-turbo": "gemini-2.5-flash",
        "gpt-4": "gemini-2.5-pro",
        "gpt-4-turbo": "gemini-2.5-flash",
        "gemini-2.5-flash": "gemini-2.5-flash",
        "gemini-2.5-pro": "gemini-2.5-pro",
        "text-embedding-3-small": "gemini-embedding-001",
        "text-embedding-3-large": "gemini-embedding-001",
        "text-embedding-ada-002": "gemini-embedding-001",
        "gemini-embedding-001": "gemini-embedding-001",
        "text-embedding-004": "text-embedding-004",
    },
    "anthropic": {
        "claude-3-sonnet": "claude-3-sonnet-20240229",
        "claude-3-haiku": "claude-3-haiku-20240307",
        "claude-3-opus": "claude-3-opus-20240229",
    },
}
PASSED_ON = {
    "gemini": ["gemini-2.5-flash-lite", "gemini-3-pro-preview"],
    "anthropic": [
        "claude-sonnet-4-5",
        "claude-3-5-haiku-20241022",
        "claude-3-haiku-20240307",
        "claude-opus-4-1-20250805",
    ],
}
UNKNOWN = {
    "gemini": ["gpt-4o", "claude-3-haiku", "xgemini-2.5-pro"],
    "anthropic": ["gpt-4", "gemini-2.5-pro", "anthropic/claude-3-haiku"],
}
BACKEND = {
    "gemini": {
        "type": "gemini",
        "api_key_env": "GEMINI_API_KEY",
        "base_url": "https://generativelanguage.googleapis.com/v1beta",
    },
    "anthropic": {
        "type": "anthropic",
        "api_key_env": "ANTHROPIC_API_KEY",
        "base_url": "https://api.anthropic.com",
        "anthropic_version": "2023-06-01",
    },
}


def preset(provider: str) -> dict[str, Any]:
    """The shipped preset file of `provider`, parsed."""
    return load_models_file(PRESETS / f"{provider}.yaml")


def registry(provider: str) -> Any:
    """The model registry of a gateway started with the preset."""
    return create_app({"TESTING": True, "MODELS": preset(provider)}).extensions["gateway.models"]


@pytest.mark.parametrize("provider", sorted(LISTED))
def test_every_listed_name_maps_to_its_provider_model(provider):
    models = registry(provider)
    for name, upstream in LISTED[provider].items():
        route = models.resolve(name)
        assert (route.backend, route.upstream_model) == (provider, upstream), name
    listed = {e.id: (e.backend, e.upstream_model or e.id) for e in models.listed()}
    assert listed == {name: (provider, upstream) for name, upstream in LISTED[provider].items()}


@pytest.mark.parametrize("provider", sorted(LISTED))
def test_provider_names_pass_on_unchanged_and_others_are_unknown(provider):
    models = registry(provider)
    for name in PASSED_ON[provider]:
        route = models.resolve(name)
        assert (route.backend, route.upstream_model) == (provider, name)
    for name in UNKNOWN[provider]:
        with pytest.raises(ModelNotFoundError):
            models.resolve(name)


@pytest.mark.parametrize("provider", sorted(LISTED))
def test_backend_defaults(provider):
    backend = preset(provider)["backends"][provider]
    assert {key: backend.get(key) for key in BACKEND[provider]} == BACKEND[provider]
