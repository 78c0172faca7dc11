"""Backend registry: backend types by name, and the configured instances of one app."""

from __future__ import annotations

import atexit
import importlib
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.backends.base import Backend, Call, ExactJSON, Result, Stream

# Adding a provider means adding its module and one line here. Modules load on first use,
# so a gateway that routes nothing to a provider never imports its code.
BACKEND_TYPES: dict[str, str] = {
    "mock": "app.backends.mock:MockBackend",
    "openai": "app.backends.openai:OpenAIBackend",
    "gemini": "app.backends.gemini:GeminiBackend",
    "anthropic": "app.backends.anthropic:AnthropicBackend",
    "t3chat": "app.backends.t3chat:T3ChatBackend",
}


def backend_class(kind: str) -> type[Backend]:
    """The Backend subclass registered under `kind`."""
    module_name, _, attr = BACKEND_TYPES[kind].partition(":")
    return getattr(importlib.import_module(module_name), attr)


__all__ = ["BACKEND_TYPES", "Backend", "Backends", "Call", "ExactJSON", "Result", "Stream"]


class Backends:
    """The backend instances named in the models file, created once per worker."""

    def __init__(self, specs: Mapping[str, Mapping[str, Any]], settings: Mapping[str, Any]) -> None:
        self.instances: dict[str, Backend] = {}
        for name, spec in specs.items():
            spec = dict(spec or {})
            kind = spec.pop("type", name)
            if kind not in BACKEND_TYPES:
                known = ", ".join(sorted(BACKEND_TYPES))
                raise ValueError(f"backend `{name}` has unknown type `{kind}` (known: {known})")
            self.instances[name] = backend_class(kind)(name, spec, settings)

    def __getitem__(self, name: str) -> Backend:
        return self.instances[name]

    def __contains__(self, name: object) -> bool:
        return name in self.instances

    def names(self) -> set[str]:
        """Names of the configured instances."""
        return set(self.instances)

    def close(self) -> None:
        """Close every backend's pooled connections."""
        for backend in self.instances.values():
            backend.close()


def init_app(app: Flask, specs: Mapping[str, Mapping[str, Any]]) -> Backends:
    """Create the configured backends for this app and close them at exit."""
    backends = Backends(specs, app.config)
    app.extensions["gateway.backends"] = backends
    atexit.register(backends.close)
    return backends
