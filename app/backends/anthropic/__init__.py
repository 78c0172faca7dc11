"""Anthropic (Claude Messages API) backend."""

from app.backends.anthropic.backend import AnthropicBackend

__all__ = ["AnthropicBackend"]
