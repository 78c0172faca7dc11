"""Models blueprint: `GET /v1/models` and `GET /v1/models/<id>`."""

from flask import Blueprint, Response, jsonify

from app.auth import hide_unless_allowed, may_use, require_api_key
from app.services.catalog import find_model, listed_models

bp = Blueprint("models", __name__)
bp.before_request(require_api_key)


@bp.get("/models")
def list_models() -> Response:
    """List the models of the models file and those discovered upstream (those the key may use)."""
    data = [model for model in listed_models() if may_use(model["id"])]
    return jsonify({"object": "list", "data": data})


@bp.get("/models/<path:model_id>")
def retrieve_model(model_id: str) -> Response:
    """Describe one model, or 404 `model_not_found` (also for a model the key may not use)."""
    hide_unless_allowed(model_id)
    return jsonify(find_model(model_id))
