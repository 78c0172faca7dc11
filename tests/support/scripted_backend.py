"""A test-only backend whose streams follow a script, and that counts how often they are closed.

Register it for one test with
`monkeypatch.setitem(app.backends.BACKEND_TYPES, "scripted", SCRIPTED)` and name it in the
`MODELS` mapping. Options: `chunks` (content chunks per stream, default 3; `-1` streams until
closed), `fail_after` (raise after that many content chunks) and `error` (`"upstream"` for an
APIError, anything else for an unexpected exception, whose text must never reach the client).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from app.backends import shaping
from app.backends.base import Backend, Call, Result, Stream
from app.errors import UpstreamError

SCRIPTED = "tests.support.scripted_backend:ScriptedBackend"
# Text that must stay inside the gateway: an unexpected exception carries it.
SECRET_DETAIL = "sk-provider-secret-in-a-traceback"


class ScriptedBackend(Backend):
    """Streams `chunks` content deltas, optionally failing midway; records closes and pulls."""

    def __init__(self, name: str, options: Any, settings: Any) -> None:
        super().__init__(name, options, settings)
        self.closed = 0
        self.pulled = 0

    def chat(self, call: Call) -> Result:
        """A Stream that plays the script (this backend only streams)."""
        return Stream(self._events(call), close=self._close)

    def _close(self) -> None:
        self.closed += 1

    def _fail(self) -> None:
        if self.options.get("error") == "upstream":
            raise UpstreamError("The upstream connection broke mid-stream.", code="upstream_error")
        raise RuntimeError(f"backend crashed holding {SECRET_DETAIL}")

    def _events(self, call: Call) -> Iterator[dict[str, Any]]:
        chunks = shaping.ChunkFactory(call.model, include_usage=call.wants_usage)
        count = int(self.options.get("chunks", 3))
        fail_after = self.options.get("fail_after")
        if fail_after == 0:
            self._fail()
        yield chunks.role(0)
        for i in itertools.count() if count < 0 else range(count):
            if fail_after is not None and i == fail_after:
                self._fail()
            self.pulled += 1
            yield chunks.content(0, f"part{i} ")
        yield chunks.finish(0, "stop")
        if call.wants_usage:
            yield chunks.usage(shaping.usage(5, count))
