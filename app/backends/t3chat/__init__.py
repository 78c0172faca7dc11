"""Experimental backend for t3.chat's unofficial web protocol (cookies + Convex session id)."""

from app.backends.t3chat.backend import T3ChatBackend

__all__ = ["T3ChatBackend"]
