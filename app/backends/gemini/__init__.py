"""Google Gemini through its native Generative Language API."""

from app.backends.gemini.backend import GeminiBackend

__all__ = ["GeminiBackend"]
