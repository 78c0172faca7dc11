"""The `openai` backend: OpenAI itself and every OpenAI-compatible server."""

from app.backends.openai.backend import OpenAIBackend

__all__ = ["OpenAIBackend"]
