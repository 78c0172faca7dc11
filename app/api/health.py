"""Health blueprint: `GET /health` and the `GET /` welcome; no key needed."""

from flask import Blueprint, Response, current_app, jsonify

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
            "endpoints": [*_api_paths(), "/health"],
        }
    )


def _api_paths() -> list[str]:
    """The `/v1` paths the app serves, read from its URL map so the list cannot go stale."""
    # Paths with a parameter (`/v1/models/<id>`) are reached from the plain ones they extend.
    rules = current_app.url_map.iter_rules()
    return sorted({r.rule for r in rules if r.rule.startswith("/v1/") and not r.arguments})
