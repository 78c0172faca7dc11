"""The model registry: exact ids and patterns, upstream names, fallback chains, bad entries."""

from __future__ import annotations

import pytest

from app.errors import ModelNotFoundError
from app.routing import ModelRegistry

BACKENDS = {"a", "b", "c"}


def registry(*items: dict) -> ModelRegistry:
    """A registry over backends a, b and c."""
    return ModelRegistry.from_list(list(items), BACKENDS)


def test_exact_id_beats_a_pattern_listed_before_it():
    models = registry({"id": "gpt-*", "backend": "a"}, {"id": "gpt-4o", "backend": "b"})
    assert models.resolve("gpt-4o").backend == "b"
    assert models.resolve("gpt-4o-mini").backend == "a"


def test_patterns_are_tried_in_file_order():
    first = registry({"id": "team/*", "backend": "a"}, {"id": "*", "backend": "b"})
    assert first.resolve("team/x").backend == "a"
    assert first.resolve("other/x").backend == "b"
    swapped = registry({"id": "*", "backend": "b"}, {"id": "team/*", "backend": "a"})
    assert swapped.resolve("team/x").backend == "b"


def test_pattern_passes_the_name_on_with_strip_prefix_removed():
    models = registry({"id": "ollama/*", "backend": "a", "strip_prefix": "ollama/"})
    route = models.resolve("ollama/llama3:8b")
    assert (route.model, route.upstream_model) == ("ollama/llama3:8b", "llama3:8b")
    kept = registry({"id": "*", "backend": "a", "strip_prefix": "x/"}).resolve("y/model")
    assert kept.upstream_model == "y/model"


def test_upstream_model_override():
    models = registry(
        {"id": "fast", "backend": "a", "model": "gpt-4o-mini"},
        {"id": "plain", "backend": "a"},
        {"id": "claude-*", "backend": "b", "model": "claude-sonnet-4-5"},
    )
    assert (models.resolve("fast").model, models.resolve("fast").upstream_model) == (
        "fast",
        "gpt-4o-mini",
    )
    assert models.resolve("plain").upstream_model == "plain"
    assert models.resolve("claude-3-opus").upstream_model == "claude-sonnet-4-5"


def test_route_carries_retries_fallbacks_and_extra_options():
    models = registry(
        {"id": "m", "backend": "a", "retries": 2, "fallbacks": ["n"], "max_tokens_cap": 9},
        {"id": "n", "backend": "b"},
    )
    route = models.resolve("m")
    assert (route.retries, route.fallbacks, route.options) == (2, ("n",), {"max_tokens_cap": 9})


def test_fallback_chain_in_order():
    models = registry(
        {"id": "main", "backend": "a", "fallbacks": ["second", "any/model"]},
        {"id": "second", "backend": "b", "fallbacks": "main"},
        {"id": "any/*", "backend": "c", "strip_prefix": "any/"},
    )
    chain = models.chain("main")
    assert [(r.backend, r.upstream_model) for r in chain] == [
        ("a", "main"),
        ("b", "second"),
        ("c", "model"),
    ]
    # A single fallback may be written as a plain string.
    assert [r.model for r in models.chain("second")] == ["second", "main"]


def test_unknown_model_raises_model_not_found():
    with pytest.raises(ModelNotFoundError) as info:
        registry({"id": "m", "backend": "a"}).chain("nope")
    assert (info.value.status, info.value.param, info.value.code) == (404, None, "model_not_found")


@pytest.mark.parametrize(
    ("items", "words"),
    [
        ([{"id": "m", "backend": "nowhere"}], ["m", "nowhere"]),
        ([{"id": "m"}], ["models[0]", "backend"]),
        (["m"], ["models[0]"]),
        ([{"id": "m", "backend": "a"}, {"id": "m", "backend": "b"}], ["models[1]", "m"]),
        ([{"id": "m", "backend": "a", "fallbacks": ["ghost"]}], ["m", "ghost"]),
        ([{"id": "m", "backend": "a", "endpoints": ["chats"]}], ["models[0]", "endpoints"]),
        ([{"id": "m", "backend": "a", "endpoints": []}], ["models[0]", "endpoints"]),
        ([{"id": "m", "backend": "a", "endpoints": {"chat": 1}}], ["models[0]", "endpoints"]),
    ],
    ids=[
        "unknown-backend",
        "no-backend",
        "not-a-mapping",
        "duplicate-id",
        "unknown-fallback",
        "unknown-endpoint",
        "no-endpoint",
        "endpoints-not-a-list",
    ],
)
def test_bad_models_file_fails_at_start_with_a_clear_message(items, words):
    with pytest.raises(ValueError) as info:
        registry(*items)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_entry_for_is_the_entry_resolve_uses():
    registry = ModelRegistry.from_list(
        [
            {"id": "x/exact", "backend": "a"},
            {"id": "x/*", "backend": "b", "strip_prefix": "x/"},
            {"id": "*", "backend": "c"},
        ],
        BACKENDS,
    )
    assert registry.entry_for("x/exact").backend == "a"
    assert registry.entry_for("x/other").backend == "b"
    assert registry.entry_for("y").backend == "c"
    assert registry.resolve("x/other").upstream_model == "other"
