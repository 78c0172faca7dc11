"""The built-in deterministic mock model."""

from app.backends.mock.backend import MockBackend

__all__ = ["MockBackend"]
