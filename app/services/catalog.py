"""The models `/v1/models` shows: the models file's exact ids, then models found upstream.

A discovered upstream id is shown under the public id that routes back to it: for each
pattern entry of its backend (in file order, without a fixed `model`), `strip_prefix` +
upstream id, when that id matches the pattern and the models file resolves it to this very
backend and upstream model (an exact entry or an earlier pattern may claim it first).

`GET /v1/models/{id}` also answers any id a pattern routes (listed or not), under the pattern
entry's `created` and backend, since requests for that id are served.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterator
from typing import Any

from app import gateway
from app.errors import APIError, ModelNotFoundError
from app.routing import ModelEntry, ModelRegistry

log = logging.getLogger(__name__)


def model_object(model_id: str, created: int, owned_by: str) -> dict[str, Any]:
    """An OpenAI `model` object."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": owned_by}


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
    # Only a pattern can route a discovered id; the upstream's own details are the better answer.
    for obj in discovered_models(registry):
        if obj["id"] == model_id:
            return obj
    # Requests for any id the pattern matches are served, so retrieving one must not 404.
    return model_object(model_id, entry.created, entry.backend)


def discovered_models(registry: ModelRegistry) -> Iterator[dict[str, Any]]:
    """Model objects for the upstream models of every backend that reports some."""
    for name, backend in gateway.backends().instances.items():
        patterns = [e for e in registry.patterns if e.backend == name and not e.upstream_model]
        if not patterns:
            continue  # nothing would route a discovered id to this backend
        try:
            upstream_models = backend.list_models()
        except APIError as exc:
            log.warning("backend %s: model listing failed (%s %s)", name, exc.status, exc.message)
            continue
        for model in upstream_models:
            upstream_id = model.get("id")
            entry, public_id = _public_id(registry, name, patterns, str(upstream_id))
            if entry is None or not isinstance(upstream_id, str):
                continue
            yield _discovered_object(model, public_id, entry, name)


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
