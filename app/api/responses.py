"""Turning a backend's answer into the HTTP response the client receives."""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Flask, Response, g, jsonify

from app import observe
from app.backends import ExactJSON, Stream
from app.services.dispatch import Answer
from app.services.streaming import EventStream, sse_response

log = logging.getLogger(__name__)

# Printable ASCII but `%` (the escape itself) and space (trimmed from header values): every
# other character of a header value is percent-encoded as UTF-8.
_HEADER_SAFE = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) != "%")


def header_value(text: str) -> str:
    """`text` made safe for a response header: anything but printable ASCII percent-encoded."""
    # Servers refuse non-Latin-1 header values (gunicorn) and line breaks (werkzeug); a routed
    # model id is the client's choice and may hold either.
    if text.isascii() and text.isprintable() and " " not in text and "%" not in text:
        return text  # the usual id, at a fraction of quote's cost
    return quote(text, safe=_HEADER_SAFE, errors="surrogatepass")


def render(answer: Answer) -> Response:
    """JSON for a complete answer, an SSE stream for a Stream; names the backend that answered."""
    backend = f"{answer.route.backend}/{answer.route.upstream_model}"
    headers = {"x-gateway-backend": header_value(backend)}
    exchange = observe.current()
    if exchange is not None:
        exchange.backend = answer.route.backend
        exchange.upstream_model = answer.route.upstream_model
        exchange.stream = isinstance(answer.result, Stream)
    if isinstance(answer.result, Stream):
        try:
            response = sse_response(answer.result, headers)
        except BaseException:
            answer.result.close()
            raise
        # Until the WSGI server holds the body, nothing else would close the backend stream.
        g.event_stream = response.response
        return response
    if exchange is not None:
        exchange.record_usage(answer.result.get("usage"))
    if isinstance(answer.result, ExactJSON):
        response = Response(answer.result.body, mimetype="application/json")
    else:
        response = jsonify(answer.result)
    response.headers.update(headers)
    return response


def _close_unsent(exc: BaseException | None) -> None:
    body = g.pop("event_stream", None)
    if isinstance(body, EventStream) and not body.sent:
        # An after-request hook or the server's start_response failed: the stream was never
        # handed over, so it is closed here (its upstream, the active-streams gauge, the log).
        log.warning("stream %s: its response was never sent; closing it", body.request_id)
        body.close()


def init_app(app: Flask) -> None:
    """Close a stream whose response could not be handed to the WSGI server."""
    app.teardown_request(_close_unsent)
