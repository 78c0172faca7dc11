"""Prometheus metrics: `GET /metrics`, fed per finished request and per failed upstream attempt.

Under gunicorn, `PROMETHEUS_MULTIPROC_DIR` (set by config/gunicorn.conf.py before the workers
start) switches prometheus-client to its multiprocess mode: every worker writes its values to
files there and `/metrics` adds them up, whichever worker answers the scrape. Without it (the
Flask test client, `flask run`) each app keeps its metrics in a registry of its own.

Label values are bounded: routes are URL rules, models are the requested ids the models file
routes (others are "unknown"; of the names a pattern routes, the first `MAX_PATTERN_MODELS` an
upstream answered, later ones "other"), keys are key names, never keys, error classes are the
gateway's own error codes or OpenAI's error types (others are "other").
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, Response, current_app, request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from app import gateway, observe
from app.errors import APIError, AuthenticationError, ModelNotFoundError
from app.routing import Route

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
# Error types as OpenAI and the gateway name them; anything an upstream invents is "other".
ERROR_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "requests",
        "rate_limit_exceeded",
        "insufficient_quota",
        "tokens",
        "timeout",
        "server_error",
        "api_error",
        "overloaded_error",
    }
)
# Error codes that name a failure class: the gateway's own, and OpenAI's common ones. An
# upstream's code is free text, so any other code is replaced by the error's type.
ERROR_CODES = frozenset(
    {
        "upstream_unreachable",
        "upstream_disconnected",
        "upstream_timeout",
        "upstream_bad_response",
        "upstream_stream_incomplete",
        "upstream_response_too_large",
        "upstream_key_missing",
        "rate_limit_exceeded",
        "insufficient_quota",
        "context_length_exceeded",
        "model_not_found",
        "invalid_api_key",
        "unsupported_parameter",
    }
)
_LABELS = "gateway.metric_labels"
# Names a pattern routed that become model labels, per worker: a backend that answers any name
# (the mock, some aggregators) must not make a label of every name a client tries.
MAX_PATTERN_MODELS = 100


class GatewayMetrics:
    """The gateway's metric families, in `registry` (None in multiprocess mode)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.registry = registry
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        # Names a pattern routed that are labels already (see MAX_PATTERN_MODELS).
        self.pattern_models: set[str] = set()
        self.requests = Counter(
            "gateway_requests",
            "Requests served, by route, model, backend and HTTP status.",
            ["route", "model", "backend", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "gateway_request_duration_seconds",
            "Seconds from request to the last byte of the response (the end, for streams).",
            ["route", "model", "stream"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.ttft = Histogram(
            "gateway_time_to_first_token_seconds",
            "Seconds from request to the first streamed event.",
            ["model", "backend"],
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "gateway_upstream_errors",
            "Failed upstream attempts (retried ones too), by backend, model, error class and "
            "status ('stream': after the first byte).",
            ["backend", "model", "class", "status"],
            registry=registry,
        )
        self.prompt_tokens = Counter(
            "gateway_prompt_tokens",
            "Prompt tokens, by client key name and model.",
            ["key", "model"],
            registry=registry,
        )
        self.completion_tokens = Counter(
            "gateway_completion_tokens",
            "Completion tokens, by client key name and model.",
            ["key", "model"],
            registry=registry,
        )
        self.active_streams = Gauge(
            "gateway_active_streams",
            "Streams being sent right now.",
            registry=registry,
            multiprocess_mode="livesum",
        )

    def record(self, exchange: observe.Exchange) -> None:
        """Count one finished request (an observer, see app.observe)."""
        labels = exchange.extra.get(_LABELS)
        if labels is None:
            return
        if labels["stream_open"]:
            self.active_streams.dec()
        route, model, backend = labels["route"], labels["model"], labels["backend"]
        child = self._child
        child(self.requests, route, model, backend, str(exchange.status)).inc()
        stream = "true" if exchange.stream else "false"
        child(self.latency, route, model, stream).observe(exchange.latency)
        if exchange.stream and exchange.ttft is not None:
            child(self.ttft, model, backend).observe(exchange.ttft)
        key = exchange.key_name or ""
        if exchange.prompt_tokens:
            child(self.prompt_tokens, key, model).inc(exchange.prompt_tokens)
        if exchange.completion_tokens:
            child(self.completion_tokens, key, model).inc(exchange.completion_tokens)
        if _failed_mid_stream(exchange, labels):
            # Failures before the first byte were counted per attempt, by `attempt_failed`.
            error_class = _error_type(exchange.stream_error)
            self.upstream_errors.labels(backend, model, error_class, "stream").inc()

    def _child(self, family: Any, *values: str) -> Any:
        """`family.labels(*values)`, kept: label values are bounded (see the module docstring),
        and prometheus-client validates and locks on every `labels` call."""
        key = (family, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = family.labels(*values)
        return child

    def attempt_failed(self, route: Route, error: APIError) -> None:
        """Count one failed upstream attempt, whether a retry or fallback rescues it or not."""
        # Only ids of the models file: a name a pattern matched is the client's free text.
        model = route.model if route.model in gateway.models().exact else "unknown"
        status = str(error.status)
        self.upstream_errors.labels(route.backend, model, error_class(error), status).inc()

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """The current values in the format the scraper asked for, and its content type."""
        registry = self.registry
        if registry is None:
            # A fresh registry per scrape, as prometheus-client's multiprocess mode requires.
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        encoder, content_type = choose_encoder(accept)
        return encoder(registry), content_type


def multiprocess_mode() -> bool:
    """True when prometheus-client writes its values to PROMETHEUS_MULTIPROC_DIR."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def attempt_failed(route: Route, error: APIError) -> None:
    """Count a failed upstream attempt of the current app (nothing when metrics are off)."""
    metrics: GatewayMetrics | None = current_app.extensions.get("gateway.metrics")
    if metrics is not None:
        metrics.attempt_failed(route, error)


def error_class(error: APIError) -> str:
    """A bounded name for what went wrong: the error's code when known, else its type."""
    code = error.code
    return code if code is not None and code in ERROR_CODES else _error_type(error.type)


def _failed_mid_stream(exchange: observe.Exchange, labels: dict[str, Any]) -> bool:
    """True when a stream from a backend broke after its first byte (not on shutdown)."""
    return bool(labels["routable"] and exchange.stream_error and not exchange.extra.get("shutdown"))


def _error_type(value: Any) -> str:
    return value if value in ERROR_TYPES else "other"


def _model_labels(name: str | None, status: int) -> tuple[str, str, bool]:
    """(model label, backend of its route, routable) for the requested model name."""
    if not name:
        return "", "", False
    registry = gateway.models()
    try:
        route = registry.resolve(name)
    except ModelNotFoundError:
        return "unknown", "", False
    if name in registry.exact:
        return name, route.backend, True
    # A pattern accepts any name: only names that an upstream answered become labels, and
    # only so many of them.
    if status >= 400:
        return "unknown", route.backend, True
    seen: set[str] = current_app.extensions["gateway.metrics"].pattern_models
    if name not in seen:
        if len(seen) >= MAX_PATTERN_MODELS:
            return "other", route.backend, True
        seen.add(name)
    return name, route.backend, True


def _route_labels(exchange: observe.Exchange, response: Response) -> dict[str, Any]:
    """Labels known once the response exists (the stream itself may still be running)."""
    rule = request.url_rule
    model, backend, routable = _model_labels(exchange.model, response.status_code)
    return {
        "route": rule.rule if rule else "other",
        "model": model,
        "backend": exchange.backend or backend,
        "routable": routable,
        "stream_open": False,
    }


def _label_request(response: Response) -> Response:
    exchange = observe.current()
    if exchange is None or request.endpoint == "metrics":
        return response
    labels = _route_labels(exchange, response)
    if exchange.stream and response.is_streamed:
        current_app.extensions["gateway.metrics"].active_streams.inc()
        labels["stream_open"] = True
    exchange.extra[_LABELS] = labels
    return response


def _metrics_view() -> Response:
    """GET /metrics: Prometheus exposition; with METRICS_TOKEN set, only for its bearer."""
    expected = current_app.config.get("METRICS_TOKEN") or ""
    if expected:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        valid = scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), expected.encode()
        )
        if not valid:
            raise AuthenticationError("A valid metrics token is required to read /metrics.")
    metrics: GatewayMetrics = current_app.extensions["gateway.metrics"]
    body, content_type = metrics.exposition(request.headers.get("Accept", ""))
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Create the metrics, count every request, and serve `GET /metrics` (METRICS_ENABLED)."""
    if not app.config.get("METRICS_ENABLED", True):
        return
    registry = None if multiprocess_mode() else CollectorRegistry()
    metrics = GatewayMetrics(registry)
    app.extensions["gateway.metrics"] = metrics
    app.after_request(_label_request)
    observe.add_observer(app, metrics.record)
    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])
