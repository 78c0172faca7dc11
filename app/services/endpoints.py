"""Which endpoints a model serves, and OpenAI's answer for a model used on one it does not."""

from __future__ import annotations

from app.errors import APIError, EmbeddingsNotAllowed, NotFoundError
from app.routing import Route

# The models file's name of each dispatched operation's endpoint (app.routing.ENDPOINTS).
ENDPOINT_OF = {"chat": "chat", "completion": "completions", "embeddings": "embeddings"}
_PATHS = {
    "chat": "v1/chat/completions",
    "completions": "v1/completions",
    "embeddings": "v1/embeddings",
}


def serves(route: Route, operation: str) -> bool:
    """True when `route`'s model serves `operation` (a model without `endpoints` serves all)."""
    return route.endpoints is None or ENDPOINT_OF[operation] in route.endpoints


def refusal(route: Route, operation: str) -> APIError:
    """The error OpenAI answers when a model is sent to an endpoint it does not serve."""
    endpoint = ENDPOINT_OF[operation]
    if endpoint == "embeddings":
        return EmbeddingsNotAllowed()
    served = route.endpoints or frozenset()
    if endpoint == "chat":
        message = "This is not a chat model and thus not supported in the v1/chat/completions"
    elif "chat" in served:
        message = "This is a chat model and not supported in the v1/completions"
    else:
        message = "This is not a completions model and thus not supported in the v1/completions"
    message += " endpoint."
    other = next((name for name in _PATHS if name in served), None)
    if other is not None:
        message += f" Did you mean to use {_PATHS[other]}?"
    return NotFoundError(message, param="model")
