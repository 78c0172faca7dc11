"""Chat completions blueprint: `POST /v1/chat/completions`."""

from flask import Blueprint, Response

from app.api.responses import render
from app.auth import require_api_key
from app.schemas import load_request
from app.schemas.chat import ChatCompletionRequestSchema
from app.services.dispatch import dispatch

bp = Blueprint("chat", __name__)
bp.before_request(require_api_key)
_schema = ChatCompletionRequestSchema()


@bp.post("/chat/completions")
def create_chat_completion() -> Response:
    """Create a chat completion (JSON or SSE stream)."""
    return render(dispatch("chat", load_request(_schema, model_first=True)))
