"""A test-only backend that crashes with its provider key and the client's token in the error.

It forces the gateway's unexpected-exception paths (a 500 before the answer, an error event in
the middle of a stream), whose traces must still hold no secret. Model names choose the path:
`crash` raises at once, `crash-stream` raises after the first chunk of a stream.
tests/fakes/leaky_wsgi.py serves a gateway with this type registered as `leaky`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.backends import shaping
from app.backends.base import Backend, Call, Result, Stream
from config import secret_from_env

LEAKY = "tests.fakes.leaky_backend:LeakyBackend"


class LeakyBackend(Backend):
    """Raises a RuntimeError that quotes every secret it can reach."""

    def chat(self, call: Call) -> Result:
        """Crash now (`crash`), or after the first chunk (`crash-stream`)."""
        if call.route.upstream_model == "crash-stream":
            return Stream(self._events(call))
        self._crash(call)
        raise AssertionError("unreachable")

    def _crash(self, call: Call) -> None:
        key = secret_from_env(self.options.get("api_key_env"))
        raise RuntimeError(f"upstream refused key {key!r} (client sent {call.client_token!r})")

    def _events(self, call: Call) -> Iterator[dict[str, Any]]:
        yield shaping.ChunkFactory(call.model).role(0)
        self._crash(call)
