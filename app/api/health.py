"""Health blueprint: `GET /health` and the `GET /` welcome; no key needed."""

from flask import Blueprint, Response, jsonify

from app import __version__, gateway

bp = Blueprint("health", __name__)


@bp.get("/health")
def health() -> Response:
    """Liveness with version and number of listed models."""
    return jsonify(
        {"status": "ok", "version": __version__, "models": len(gateway.models().listed())}
    )


@bp.get("/")
def index() -> Response:
    """A short welcome that points clients to the API."""
    return jsonify(
        {
            "name": "openai-gateway",
            "version": __version__,
            "message": "OpenAI-compatible API gateway. Point your client's base_url at /v1.",
            "api": "/v1",
            "endpoints": ["/v1/chat/completions", "/v1/models", "/health"],
        }
    )
