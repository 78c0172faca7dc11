"""Server-sent events: a response body that writes each chunk as soon as the backend makes it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Response, g

from app import observe, shutdown
from app.backends import Stream
from app.client_watch import ClientGone, ClientWatch
from app.errors import APIError

log = logging.getLogger(__name__)

DONE = b"data: [DONE]\n\n"
# An SSE comment, which every client skips (the SSE spec; OpenAI's SDKs ignore lines that
# start with a colon): what a stream is sent to keep its connection from looking idle.
KEEPALIVE = b": keep-alive\n\n"
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    # Tells nginx not to buffer the stream.
    "X-Accel-Buffering": "no",
}


def encode_event(payload: dict[str, Any]) -> bytes:
    """One `data:` event with compact JSON."""
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


class EventStream:
    """The WSGI body of an SSE response.

    Events are relayed one by one, then `data: [DONE]`. A failure after the first byte (the
    status line is already sent) becomes one `data: {"error": ...}` event that ends the stream,
    without `[DONE]`. The backend's Stream is closed exactly once: at the end, after an error,
    or when the server closes the body because the client went away, even before the first
    event was pulled (a generator that never started would skip its `finally`). A client
    that leaves while the stream waits for its next event ends it at once (`watch`).
    """

    def __init__(
        self,
        stream: Stream,
        request_id: str,
        exchange: observe.Exchange | None = None,
        drain: shutdown.Drain | None = None,
    ) -> None:
        self.stream = stream
        self.request_id = request_id
        self.exchange = exchange
        # Past the shutdown grace period, the stream ends with an error event (app.shutdown).
        self.drain = drain
        self.finished = False
        # The response this body belongs to: closing the body closes it too (see below).
        self.response: Response | None = None
        # True once the WSGI server holds this body, and so will close it.
        self.sent = False
        # The client's connection, watched while the next event is awaited (app.client_watch).
        self.watch: ClientWatch | None = None
        self._closed = False
        self._closing = False
        self._events = self._generate()

    def __iter__(self) -> Iterator[bytes]:
        return self._events

    def close(self) -> None:
        """Called by the WSGI server when the response ends or the client disconnects."""
        if self._closing:
            return
        self._closing = True
        self._events.close()
        if not self.finished:
            log.info("stream %s closed before its end (client went away)", self.request_id)
            if self.exchange is not None:
                self.exchange.client_left = True
        self._release()
        # Unbound first, so that the stream's objects are freed as it ends rather than left
        # in a reference cycle for the garbage collector's next full pass.
        response, self.response = self.response, None
        if response is not None:
            # Runs the response's close callbacks (request log, metrics); they call back
            # here, which is a no-op by now.
            response.close()

    def _generate(self) -> Iterator[bytes]:
        exchange = self.exchange
        drain = self.drain
        stream = self.stream
        events = iter(stream.events)
        watch = self.watch
        try:
            if stream.early_start:
                # The first event is still awaited: the response starts now (first_event).
                yield KEEPALIVE
            while True:
                if watch is not None and not stream.complete:
                    watch.arm()
                try:
                    event = next(events) if drain is None else drain.next_event(events, exchange)
                except StopIteration:
                    break
                finally:
                    if watch is not None:
                        # Not while the event is written (a write to a client that left
                        # fails alone), nor after: only the wait for the next event is cut.
                        watch.armed = False
                if isinstance(event, bytes):
                    yield event
                else:
                    if exchange is not None and event.get("usage"):
                        exchange.record_usage(event["usage"])
                    yield encode_event(event)
                if exchange is not None and exchange.first_byte is None:
                    exchange.first_byte = time.perf_counter()
            self.finished = True
            if self.stream.append_done:
                yield DONE
        except ClientGone:
            # Nobody reads an error event; the upstream is closed below, at once.
            if watch is not None:
                watch.hang_up()
        except APIError as exc:
            self.finished = True
            if exchange is not None:
                exchange.stream_error = exc.type
            log.warning("stream %s failed: %s %s", self.request_id, exc.status, exc.message)
            yield encode_event(exc.to_dict())
        except Exception:
            self.finished = True
            if exchange is not None:
                exchange.stream_error = "server_error"
            log.exception("stream %s failed unexpectedly", self.request_id)
            message = (
                "The server had an error while streaming your request. "
                f"Request id: {self.request_id}."
            )
            yield encode_event(APIError(message).to_dict())
        finally:
            # Usage the backend reported counts even when the stream then failed or the
            # client left: those tokens were spent (and the token limit must see them).
            if exchange is not None and self.stream.usage:
                exchange.record_usage(self.stream.usage)
            self._release()

    def _release(self) -> None:
        if self.watch is not None:
            self.watch.close()
        if self._closed:
            return
        self._closed = True
        try:
            self.stream.close()
        except Exception:
            # The answer is already complete or abandoned; a failed release must not hide it.
            log.exception("stream %s: closing the backend stream failed", self.request_id)


class EventStreamResponse(Response):
    """A response whose WSGI body is its EventStream itself.

    werkzeug would wrap the body in two more iterators (encoding and closing), each passed
    through once per event of every stream; the EventStream already yields bytes and closes
    the response when the server closes it.
    """

    def get_app_iter(self, environ: dict[str, Any]) -> Any:
        """The EventStream, bound to this response (werkzeug's answer for bodiless ones)."""
        body = self.response
        if isinstance(body, EventStream) and environ.get("REQUEST_METHOD") != "HEAD":
            body.response = self
            body.watch = ClientWatch.of(environ)
            return body
        return super().get_app_iter(environ)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """The WSGI call; marks the body sent only once `start_response` has taken the headers."""
        app_iter = super().__call__(environ, start_response)
        if isinstance(self.response, EventStream):
            self.response.sent = True
        return app_iter


def sse_response(stream: Stream, headers: dict[str, str]) -> Response:
    """A `text/event-stream` response relaying `stream`."""
    body = EventStream(
        stream, g.get("request_id", "-"), observe.current(), shutdown.current_drain()
    )
    response = EventStreamResponse(
        body, mimetype="text/event-stream", headers={**SSE_HEADERS, **stream.headers, **headers}
    )
    # Bound now, so that closing a body that was never sent still runs the response's callbacks.
    body.response = response
    return response
