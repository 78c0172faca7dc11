"""Embeddings blueprint: `POST /v1/embeddings`."""

from flask import Blueprint, Response

from app.api.responses import render
from app.auth import require_api_key
from app.schemas import load_request
from app.schemas.embeddings import EmbeddingRequestSchema
from app.services.dispatch import dispatch

bp = Blueprint("embeddings", __name__)
bp.before_request(require_api_key)
_schema = EmbeddingRequestSchema()


@bp.post("/embeddings")
def create_embeddings() -> Response:
    """Create embedding vectors for one or more inputs."""
    return render(dispatch("embeddings", load_request(_schema)))
