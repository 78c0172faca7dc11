"""Models blueprint: `GET /v1/models` and `GET /v1/models/<id>`."""

from typing import Any

from flask import Blueprint, Response, jsonify

from app import gateway
from app.auth import require_api_key
from app.errors import ModelNotFoundError
from app.routing import ModelEntry

bp = Blueprint("models", __name__)
bp.before_request(require_api_key)


def _model_object(entry: ModelEntry) -> dict[str, Any]:
    return {"id": entry.id, "object": "model", "created": entry.created, "owned_by": entry.backend}


@bp.get("/models")
def list_models() -> Response:
    """List the models this gateway serves by exact id."""
    data = [_model_object(entry) for entry in gateway.models().listed()]
    return jsonify({"object": "list", "data": data})


@bp.get("/models/<path:model_id>")
def retrieve_model(model_id: str) -> Response:
    """Describe one model, or 404 `model_not_found`."""
    for entry in gateway.models().listed():
        if entry.id == model_id:
            return jsonify(_model_object(entry))
    raise ModelNotFoundError(model_id)
