"""Legacy completions blueprint: `POST /v1/completions`."""

from flask import Blueprint, Response

from app.api.responses import render
from app.auth import require_api_key
from app.schemas import load_request
from app.schemas.completions import CompletionRequestSchema
from app.services.dispatch import dispatch

bp = Blueprint("completions", __name__)
bp.before_request(require_api_key)
_schema = CompletionRequestSchema()


@bp.post("/completions")
def create_completion() -> Response:
    """Create a text completion (JSON or SSE stream)."""
    return render(dispatch("completion", load_request(_schema, model_first=True)))
