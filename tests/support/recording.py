"""An httpx transport that records every exchange of an SDK client, so each body can be checked.

Pass `httpx.Client(transport=RecordingTransport())` as `http_client` to `openai.OpenAI` or to
LangChain's `ChatOpenAI`; the bytes the client read are kept as they came off the wire, and
`verify()` runs the strict checks on every response and every stream chunk.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support import openai_checks as checks
from tests.support.sse import event_data


@dataclass
class Exchange:
    """One request the client sent and the response bytes it read."""

    method: str
    path: str
    request: dict[str, Any] | None
    status: int
    headers: httpx.Headers
    body: bytearray = field(default_factory=bytearray)
    complete: bool = False

    @property
    def is_stream(self) -> bool:
        """True for a `text/event-stream` answer."""
        return self.headers.get("content-type", "").startswith("text/event-stream")

    def events(self) -> list[str]:
        """The `data:` payloads of the complete events read so far."""
        complete, _, _ = bytes(self.body).rpartition(b"\n\n")
        return [event_data(raw) for raw in complete.split(b"\n\n")] if complete else []


class _TeeStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, exchange: Exchange) -> None:
        self.inner = inner
        self.exchange = exchange
        self.chunks: Iterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        self.chunks = iter(self.inner)
        for chunk in self.chunks:
            self.exchange.body += chunk
            yield chunk
        self.exchange.complete = True

    def close(self) -> None:
        # The SDK stops reading at `[DONE]`; read the rest so that anything sent after it, or
        # a missing end of the body, is seen too. A stream left earlier is not drained: the
        # client meant to go away.
        events = self.exchange.events()
        if not self.exchange.complete and self.chunks is not None and events[-1:] == ["[DONE]"]:
            for chunk in self.chunks:
                self.exchange.body += chunk
            self.exchange.complete = True
        self.inner.close()


class RecordingTransport(httpx.BaseTransport):
    """Sends through a normal HTTPTransport and keeps a copy of every exchange."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Forward the request; hand the client a response whose bytes are also recorded."""
        sent = request.read()
        response = self.inner.handle_request(request)
        exchange = Exchange(
            request.method,
            request.url.path,
            json.loads(sent) if sent else None,
            response.status_code,
            response.headers,
        )
        self.exchanges.append(exchange)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, exchange),
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self.inner.close()

    def verify(self) -> int:
        """Check every recorded exchange; return how many there were (a test expects some)."""
        for exchange in self.exchanges:
            try:
                check_exchange(exchange)
            except AssertionError as exc:
                raise AssertionError(f"{exchange.method} {exchange.path}: {exc}") from exc
        return len(self.exchanges)


def _check_stream(exchange: Exchange, operation: str) -> None:
    events = exchange.events()
    assert exchange.headers.get("cache-control") == "no-cache", "stream without no-cache"
    assert operation in ("chat", "completion"), f"{operation} answered with a stream"
    errors = [event for event in events if event.startswith('{"error"')]
    if not exchange.complete:
        # The client stopped reading early: only the events it saw can be judged.
        for event in events:
            if event in errors:
                checks.check_error(json.loads(event))
            elif operation == "chat":
                checks.check_chat_chunk(json.loads(event))
    elif errors:
        checks.check_error_sse(events, operation)
    elif operation == "chat":
        checks.check_chat_sse(events, exchange.request)
    else:
        checks.check_completion_sse(events, exchange.request)


def check_exchange(exchange: Exchange) -> None:
    """Run the strict checks that fit this exchange's path, status and content type."""
    path = exchange.path.removeprefix("/v1")
    operation = {"/chat/completions": "chat", "/completions": "completion"}.get(path)
    if exchange.is_stream:
        assert exchange.status == 200, f"a stream with status {exchange.status}"
        _check_stream(exchange, operation or path)
        return
    assert exchange.complete, "the client did not read the body"
    content_type = exchange.headers.get("content-type", "")
    assert content_type.startswith("application/json"), f"content-type {content_type}"
    body = json.loads(exchange.body)
    if exchange.status >= 400:
        checks.check_error(body, exchange.status)
    elif operation == "chat":
        checks.check_chat_completion(body, exchange.request)
    elif operation == "completion":
        checks.check_completion(body, exchange.request)
    elif path == "/embeddings":
        checks.check_embeddings(body, exchange.request)
    elif path == "/models":
        checks.check_model_list(body)
    elif path.startswith("/models/"):
        checks.check_model(body)
    else:
        raise AssertionError(f"no check for {exchange.method} {exchange.path}")
