"""Model routing: public model ids (or patterns) mapped to a backend and its own model id."""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app.errors import ModelNotFoundError

# What a model entry's `endpoints` may list: /v1/chat/completions, /v1/completions, /v1/embeddings.
ENDPOINTS = frozenset({"chat", "completions", "embeddings"})
# An entry's own keys; any other key is an option for its backend.
_ENTRY_KEYS = frozenset(
    {"id", "backend", "model", "strip_prefix", "retries", "fallbacks", "created", "endpoints"}
)


@dataclass(frozen=True)
class ModelEntry:
    """One line of the models file: an exact id or a glob pattern routed to a backend."""

    id: str
    backend: str
    upstream_model: str | None = None
    strip_prefix: str = ""
    retries: int = 0
    fallbacks: tuple[str, ...] = ()
    created: int = 0
    # The endpoints it serves (ENDPOINTS); None: every one.
    endpoints: frozenset[str] | None = None
    options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_pattern(self) -> bool:
        """True for entries such as `gpt-*` or `ollama/*`."""
        return any(ch in self.id for ch in "*?[")


@dataclass(frozen=True)
class Route:
    """Where one requested model goes: backend instance, its model id and retry policy."""

    model: str
    backend: str
    upstream_model: str
    retries: int = 0
    fallbacks: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    endpoints: frozenset[str] | None = None


class ModelRegistry:
    """Resolves requested model names; exact ids win over patterns, patterns go in file order."""

    def __init__(self, entries: list[ModelEntry]) -> None:
        self.exact = {e.id: e for e in entries if not e.is_pattern}
        self.patterns = [e for e in entries if e.is_pattern]

    @classmethod
    def from_list(cls, items: list[dict[str, Any]], backends: set[str]) -> ModelRegistry:
        """Build the registry from the `models:` list of the models file."""
        created = int(time.time())
        entries: list[ModelEntry] = []
        seen: set[str] = set()
        for i, item in enumerate(items):
            try:
                model_id, backend = str(item["id"]), str(item["backend"])
            except (KeyError, TypeError) as exc:
                raise ValueError(f"models[{i}] needs an `id` and a `backend`") from exc
            if backend not in backends:
                raise ValueError(f"models[{i}] ({model_id}) names unknown backend `{backend}`")
            if model_id in seen:
                # A later duplicate would silently replace the earlier route.
                raise ValueError(f"models[{i}] repeats the id `{model_id}`")
            seen.add(model_id)
            entries.append(
                ModelEntry(
                    id=model_id,
                    backend=backend,
                    upstream_model=item.get("model"),
                    strip_prefix=item.get("strip_prefix", ""),
                    retries=int(item.get("retries", 0)),
                    fallbacks=_names(item.get("fallbacks")),
                    created=int(item.get("created", created)),
                    endpoints=_endpoints(item.get("endpoints"), f"models[{i}] ({model_id})"),
                    options={k: v for k, v in item.items() if k not in _ENTRY_KEYS},
                )
            )
        registry = cls(entries)
        registry._check_fallbacks()
        return registry

    def _check_fallbacks(self) -> None:
        """Every fallback must name a model this registry can route (found at start, not later)."""
        for entry in [*self.exact.values(), *self.patterns]:
            for fallback in entry.fallbacks:
                try:
                    self.resolve(fallback)
                except ModelNotFoundError as exc:
                    raise ValueError(
                        f"model `{entry.id}` falls back to `{fallback}`, which no entry routes"
                    ) from exc

    def entry_for(self, name: str) -> ModelEntry:
        """The entry that routes a requested model name, or raise ModelNotFoundError."""
        entry = self.exact.get(name)
        if entry is not None:
            return entry
        for entry in self.patterns:
            if fnmatch.fnmatchcase(name, entry.id):
                return entry
        raise ModelNotFoundError(name)

    def resolve(self, name: str) -> Route:
        """Return the route for a requested model name, or raise ModelNotFoundError."""
        entry = self.entry_for(name)
        upstream = name
        # Only a pattern's match is rewritten: an exact id names its upstream model as it is.
        if entry.is_pattern and entry.strip_prefix and upstream.startswith(entry.strip_prefix):
            upstream = upstream[len(entry.strip_prefix) :]
        return self._route(entry, name, entry.upstream_model or upstream)

    def chain(self, name: str) -> list[Route]:
        """The route for `name` followed by the routes of its fallbacks, in order."""
        first = self.resolve(name)
        return [first] + [self.resolve(fallback) for fallback in first.fallbacks]

    def listed(self) -> list[ModelEntry]:
        """Exact entries, the ones `/v1/models` can show."""
        return list(self.exact.values())

    @staticmethod
    def _route(entry: ModelEntry, name: str, upstream: str) -> Route:
        return Route(
            name,
            entry.backend,
            upstream,
            entry.retries,
            entry.fallbacks,
            entry.options,
            entry.endpoints,
        )


def _endpoints(value: Any, where: str) -> frozenset[str] | None:
    """`endpoints` as a set of ENDPOINTS names; None (every endpoint) when not given."""
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(n in ENDPOINTS for n in names):
        raise ValueError(f"{where}: `endpoints` must list some of {', '.join(sorted(ENDPOINTS))}")
    return frozenset(names)


def _names(value: Any) -> tuple[str, ...]:
    """`fallbacks` as a tuple of model names; a single name may be given as a plain string."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(name) for name in value)


def load_models_file(path: str | Path) -> dict[str, Any]:
    """Read the models file; it holds `backends:` (instances) and `models:` (routes)."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with `backends` and `models`")
    data.setdefault("backends", {})
    data.setdefault("models", [])
    return data
