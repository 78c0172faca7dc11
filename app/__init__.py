"""The gateway application factory."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask

__version__ = "0.1.0"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the gateway: settings, logging, extensions, backends, blueprints, error handlers."""
    app = Flask(__name__)
    # Before any rule is added (rules copy the setting): werkzeug would otherwise answer
    # `/v1//chat/completions` with a 308 to a Location built from the client's Host header.
    app.url_map.merge_slashes = False
    configure(app, config)
    register_logging(app)
    register_extensions(app)
    register_backends(app)
    register_blueprints(app)
    register_error_handlers(app)
    return app


def configure(app: Flask, config: Mapping[str, Any] | None) -> None:
    """Settings from the environment, overridden by the mapping the caller passes."""
    from config import load_settings

    app.config.from_mapping(load_settings())
    if config:
        app.config.from_mapping(config)
    # Keep the key order of upstream bodies and skip indentation on the hot path.
    app.json.sort_keys = False
    app.json.compact = True


def register_logging(app: Flask) -> None:
    """Log to stdout at the configured level (under gunicorn, its logging config applies);
    known secrets are scrubbed from every record."""
    level = app.config.get("LOG_LEVEL", "INFO")
    logging.basicConfig(
        level=level, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("app").setLevel(level)
    from app import redaction

    redaction.init_app(app)


def register_extensions(app: Flask) -> None:
    """Proxy headers, request ids, metrics, request log, security headers, CORS, client keys
    and rate limits."""
    from app import (
        access_log,
        auth,
        cors,
        metrics,
        observe,
        proxy,
        ratelimit,
        request_body,
        request_context,
        security_headers,
        shutdown,
    )

    proxy.init_app(app)
    request_context.init_app(app)
    request_body.init_app(app)
    observe.init_app(app)
    shutdown.init_app(app)
    metrics.init_app(app)
    access_log.init_app(app)
    security_headers.init_app(app)
    cors.init_app(app)
    auth.init_app(app)
    ratelimit.init_app(app)


def register_backends(app: Flask) -> None:
    """Backend instances and the model registry from the models file."""
    from app import gateway

    gateway.init_app(app)


def register_blueprints(app: Flask) -> None:
    """API blueprints under `/v1` and again without the prefix; health at the root."""
    from app.api import chat, completions, embeddings, health, models, responses

    responses.init_app(app)
    for blueprint in (chat.bp, completions.bp, embeddings.bp, models.bp):
        app.register_blueprint(blueprint, url_prefix="/v1")
        app.register_blueprint(blueprint, url_prefix="", name=f"{blueprint.name}_unprefixed")
    app.register_blueprint(health.bp)


def register_error_handlers(app: Flask) -> None:
    """Every error, ours or werkzeug's, as the OpenAI envelope."""
    from app import error_handlers

    error_handlers.init_app(app)
