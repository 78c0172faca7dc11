"""Turning a backend's answer into the HTTP response the client receives."""

from __future__ import annotations

from flask import Response, jsonify

from app import observe
from app.backends import ExactJSON, Stream
from app.services.dispatch import Answer
from app.services.streaming import sse_response


def render(answer: Answer) -> Response:
    """JSON for a complete answer, an SSE stream for a Stream; names the backend that answered."""
    headers = {"x-gateway-backend": f"{answer.route.backend}/{answer.route.upstream_model}"}
    exchange = observe.current()
    if exchange is not None:
        exchange.backend = answer.route.backend
        exchange.upstream_model = answer.route.upstream_model
        exchange.stream = isinstance(answer.result, Stream)
    if isinstance(answer.result, Stream):
        return sse_response(answer.result, headers)
    if exchange is not None:
        exchange.record_usage(answer.result.get("usage"))
    if isinstance(answer.result, ExactJSON):
        response = Response(answer.result.body, mimetype="application/json")
    else:
        response = jsonify(answer.result)
    response.headers.update(headers)
    return response
