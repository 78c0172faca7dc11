"""One record per API request, filled as it is served and handed to observers when it ends.

Observers (metrics, request logs, rate-limit accounting) register with `add_observer`; each is
called once per request with the finished `Exchange`, after the last byte of the response —
for streams, when the stream ends or the client goes away.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, g, request

from app import redaction

log = logging.getLogger(__name__)

Observer = Callable[["Exchange"], None]
# Client-chosen model names are kept to the length the request log writes (app.access_log).
_MAX_MODEL = 200


@dataclass
class Exchange:
    """What happened in one request: who asked, which model and backend answered, how it went."""

    request_id: str
    endpoint: str
    started: float = field(default_factory=time.perf_counter)
    key_name: str | None = None
    model: str | None = None
    backend: str | None = None
    upstream_model: str | None = None
    stream: bool = False
    status: int = 0
    first_byte: float | None = None
    ended: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # Error type of a failure sent inside a stream (status stays 200 there).
    stream_error: str | None = None
    # True when the client left a stream before its end (status stays 200 there too).
    client_left: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latency(self) -> float:
        """Seconds from the start of the request to its end (or to now)."""
        return (self.ended or time.perf_counter()) - self.started

    @property
    def ttft(self) -> float | None:
        """Seconds to the first streamed event, for streams."""
        return None if self.first_byte is None else self.first_byte - self.started

    def record_usage(self, usage: Any) -> None:
        """Take token counts from an OpenAI `usage` object, when there is one.

        Only whole, non-negative counts are taken: an upstream's `3.5` or `"12"` would reach the
        token limits, the request log and the metrics as it is.
        """
        if isinstance(usage, dict):
            self.prompt_tokens = _count(usage.get("prompt_tokens"), self.prompt_tokens)
            self.completion_tokens = _count(usage.get("completion_tokens"), self.completion_tokens)


def _count(value: Any, kept: int | None) -> int | None:
    return value if type(value) is int and value >= 0 else kept


def current() -> Exchange | None:
    """The Exchange of the current request (None outside API requests)."""
    return g.get("exchange")


def note_model(body: dict[str, Any]) -> None:
    """Put the requested model on the current Exchange, so a refusal before dispatch logs it."""
    exchange = current()
    model = body.get("model")
    if exchange is not None and isinstance(model, str):
        exchange.model = model


def add_observer(app: Flask, observer: Observer) -> None:
    """Call `observer(exchange)` at the end of every request of `app`."""
    app.extensions.setdefault("gateway.observers", []).append(observer)


def _start() -> None:
    g.exchange = Exchange(
        g.get("request_id", "-"), request.url_rule.rule if request.url_rule else request.path
    )


def _finish_later(response: Response) -> Response:
    exchange = current()
    if exchange is None:
        return response
    exchange.status = response.status_code
    # Client-chosen names may hold anything, keys included: scrubbed while the request's own
    # token is still known (a stream's log line is written after the request context ends).
    if exchange.model is not None:
        exchange.model = redaction.shown(exchange.model, _MAX_MODEL)
    if exchange.upstream_model is not None:
        exchange.upstream_model = redaction.shown(exchange.upstream_model, _MAX_MODEL)
    key = g.get("client_key")
    exchange.key_name = getattr(key, "name", None)
    observers = list(current_app.extensions.get("gateway.observers", ()))
    if observers:
        response.call_on_close(lambda: _notify(exchange, observers))
    return response


def _notify(exchange: Exchange, observers: list[Observer]) -> None:
    exchange.ended = time.perf_counter()
    for observer in observers:
        try:
            observer(exchange)
        except Exception:
            # An observer failure must never turn a served request into an error.
            log.exception("observer %r failed for request %s", observer, exchange.request_id)


def init_app(app: Flask) -> None:
    """Open an Exchange for every request and notify observers when its response closes."""
    app.before_request(_start)
    app.after_request(_finish_later)
