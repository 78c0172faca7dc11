"""Binds the models file to the app: backend instances and the model registry."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from app import backends as backend_registry
from app.backends import Backends
from app.routing import ModelRegistry, load_models_file


def init_app(app: Flask) -> None:
    """Load `MODELS` (a mapping, for tests) or `MODELS_FILE`, then create backends and routes."""
    data: dict[str, Any] = app.config.get("MODELS") or load_models_file(app.config["MODELS_FILE"])
    backends = backend_registry.init_app(app, data.get("backends") or {})
    app.extensions["gateway.models"] = ModelRegistry.from_list(
        data.get("models") or [], backends.names()
    )


def models() -> ModelRegistry:
    """The current app's model registry."""
    return current_app.extensions["gateway.models"]


def backends() -> Backends:
    """The current app's backend instances."""
    return current_app.extensions["gateway.backends"]
