"""The interface every backend implements, and the values that cross it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.errors import APIError, EmbeddingsNotAllowed
from app.routing import Route


@dataclass
class Call:
    """One request handed to a backend.

    `body` is the validated OpenAI payload exactly as the client sent it (unknown fields
    included); `route.upstream_model` is the backend's own id for the model, `model` the id
    the client asked for, which every response and chunk must carry.
    """

    body: dict[str, Any]
    route: Route
    client_token: str | None = None
    request_id: str = ""

    @property
    def model(self) -> str:
        """The model id the client asked for."""
        return self.body["model"]

    @property
    def wants_usage(self) -> bool:
        """True when a stream must end with a usage chunk."""
        return bool((self.body.get("stream_options") or {}).get("include_usage"))


def _noop() -> None:
    return None


@dataclass
class Stream:
    """A streamed answer.

    `events` yields chunk dicts (encoded by the gateway as `data: {json}`) or `bytes` that are
    already complete SSE events (relayed as they are). When `append_done` is true the gateway
    writes `data: [DONE]` after the last event; a relay that forwards the upstream's own
    `[DONE]` sets it to false. `close` releases the upstream at once (client went away).
    A backend whose events are raw bytes sets `usage` when it learns the token counts, and
    `complete` before it yields the upstream's `[DONE]`: what is read after it is only the end
    of the upstream's body, which the client does not wait for. `early_start` is set when
    the response starts before the first event has come (app.services.first_event).
    """

    events: Iterator[dict[str, Any] | bytes]
    close: Callable[[], None] = _noop
    headers: dict[str, str] = field(default_factory=dict)
    append_done: bool = True
    usage: dict[str, Any] | None = None
    complete: bool = False
    early_start: bool = False


class ExactJSON(dict[str, Any]):
    """A complete answer that is sent as `body`, the exact bytes it was parsed from.

    The mapping is for reading (usage, logs); an upstream's own JSON goes to the client as it
    came, with no second encoding (which would also escape its non-ASCII text).
    """

    __slots__ = ("body",)

    def __init__(self, answer: dict[str, Any], body: bytes) -> None:
        super().__init__(answer)
        self.body = body


Result = dict[str, Any] | Stream


def missing_key_error(name: str, key_env: str) -> APIError:
    """The error of a call to backend `name` whose server key variable `key_env` is unset."""
    # Retryable, so that a fallback model on another backend can still answer.
    return APIError(
        f"Upstream `{name}` has no API key: set the environment variable {key_env}.",
        code="upstream_key_missing",
        retryable=True,
    )


class Backend:
    """A model provider. Subclasses implement `chat`; the rest is optional.

    A backend translates the OpenAI request to its provider, and translates every provider
    failure into an `app.errors.APIError` at this boundary (`raise ... from exc`).
    """

    def __init__(self, name: str, options: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        self.name = name
        self.options = dict(options)
        self.settings = settings

    def chat(self, call: Call) -> Result:
        """Answer a chat completion request: a `chat.completion` dict, or a Stream of chunks."""
        raise NotImplementedError

    def completion(self, call: Call) -> Result:
        """Answer a legacy completion request; by default converted to chat and back."""
        from app.services.legacy import completion_via_chat

        return completion_via_chat(self, call)

    def embeddings(self, call: Call) -> dict[str, Any]:
        """Answer an embeddings request (refused, as OpenAI refuses a model without them)."""
        raise EmbeddingsNotAllowed()

    def list_models(self) -> list[dict[str, Any]]:
        """Models the upstream itself reports (for discovery); none by default."""
        return []

    def close(self) -> None:
        """Release pooled connections at shutdown."""
        return None
