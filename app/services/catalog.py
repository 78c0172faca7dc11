"""The models `/v1/models` shows: the models file's exact ids, then models found upstream.

A discovered upstream id is shown under the public id that routes back to it: for each
pattern entry of its backend (in file order, without a fixed `model`), `strip_prefix` +
upstream id, when that id matches the pattern and the models file resolves it to this very
backend and upstream model (an exact entry or an earlier pattern may claim it first).

`GET /v1/models/{id}` also answers any id a pattern routes (listed or not), under the pattern
entry's `created` and backend, since requests for that id are served; only that backend's list
is consulted for it. A backend's public ids are worked out once per list it fetches.
"""

from __future__ import annotations

import fnmatch
import logging
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app import gateway
from app.backends.base import Backend
from app.errors import APIError, ModelNotFoundError
from app.routing import ModelEntry, ModelRegistry

log = logging.getLogger(__name__)


def model_object(model_id: str, created: int, owned_by: str) -> dict[str, Any]:
    """An OpenAI `model` object."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


@dataclass(frozen=True)
class _Discovered:
    """One backend's discovered models under their public ids, built from one fetched list."""

    registry: ModelRegistry
    # The list they were built from: a backend hands out a new list when it fetches again.
    upstream: list[dict[str, Any]]
    objects: list[dict[str, Any]]
    by_id: dict[str, dict[str, Any]]


_NOTHING = _Discovered(ModelRegistry([]), [], [], {})
# Per backend instance, so that apps (and their registries) never share an entry.
_built: weakref.WeakKeyDictionary[Backend, _Discovered] = weakref.WeakKeyDictionary()


def listed_models() -> list[dict[str, Any]]:
    """Every model to list: exact entries first, then discovered ones, each id once."""
    registry = gateway.models()
    objects = [model_object(e.id, e.created, e.backend) for e in registry.listed()]
    seen = {obj["id"] for obj in objects}
    for obj in discovered_models(registry):
        if obj["id"] not in seen:
            seen.add(obj["id"])
            objects.append(obj)
    return objects


def find_model(model_id: str) -> dict[str, Any]:
    """The model a request for `model_id` would reach, or ModelNotFoundError."""
    registry = gateway.models()
    entry = registry.entry_for(model_id)
    if not entry.is_pattern:
        return model_object(entry.id, entry.created, entry.backend)
    # Only a pattern can route a discovered id, and only to its own backend: no other
    # backend's listing can hold it, so a slow or failing one must not delay this answer.
    found = _discovered(registry, entry.backend).by_id.get(model_id)
    if found is not None:
        return dict(found)
    # Requests for any id the pattern matches are served, so retrieving one must not 404.
    return model_object(model_id, entry.created, entry.backend)


def discovered_models(registry: ModelRegistry) -> Iterator[dict[str, Any]]:
    """Model objects for every backend's upstream models (shared between requests: read-only)."""
    for name in gateway.backends().instances:
        yield from _discovered(registry, name).objects


def _discovered(registry: ModelRegistry, name: str) -> _Discovered:
    """Backend `name`'s discovered models, mapped to public ids once per list it fetches."""
    patterns = [e for e in registry.patterns if e.backend == name and not e.upstream_model]
    if not patterns:
        return _NOTHING  # nothing would route a discovered id to this backend
    backend = gateway.backends()[name]
    try:
        upstream_models = backend.list_models()
    except APIError as exc:
        log.warning("backend %s: model listing failed (%s %s)", name, exc.status, exc.message)
        return _NOTHING
    built = _built.get(backend)
    # Mapping every upstream id (fnmatch and a full resolve each) on every request would
    # cost a large listing's whole CPU time per request and stall the worker's other streams.
    if built is None or built.upstream is not upstream_models or built.registry is not registry:
        built = _build(registry, name, patterns, upstream_models)
        _built[backend] = built
    return built


def _build(
    registry: ModelRegistry,
    name: str,
    patterns: list[ModelEntry],
    upstream_models: list[dict[str, Any]],
) -> _Discovered:
    """The public model objects of `upstream_models`, in their order, and an index by id."""
    objects: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for model in upstream_models:
        upstream_id = model.get("id")
        if not isinstance(upstream_id, str):
            continue
        entry, public_id = _public_id(registry, name, patterns, upstream_id)
        if entry is None:
            continue
        obj = _discovered_object(model, public_id, entry, name)
        objects.append(obj)
        by_id.setdefault(public_id, obj)
    return _Discovered(registry, upstream_models, objects, by_id)


def _discovered_object(
    model: dict[str, Any], public_id: str, entry: ModelEntry, backend: str
) -> dict[str, Any]:
    """The upstream's `created` and `owned_by` when it gave them, else the entry's."""
    created, owned_by = model.get("created"), model.get("owned_by")
    if not isinstance(created, int) or isinstance(created, bool):
        created = entry.created
    return model_object(
        public_id, created, owned_by if owned_by and isinstance(owned_by, str) else backend
    )


def _public_id(
    registry: ModelRegistry, backend: str, patterns: list[ModelEntry], upstream_id: str
) -> tuple[ModelEntry | None, str]:
    """The pattern entry and public id that route back to `upstream_id` on `backend`."""
    for entry in patterns:
        public_id = entry.strip_prefix + upstream_id
        if not fnmatch.fnmatchcase(public_id, entry.id):
            continue
        try:
            route = registry.resolve(public_id)
        except ModelNotFoundError:
            continue
        if route.backend == backend and route.upstream_model == upstream_id:
            return entry, public_id
    return None, upstream_id
