"""The quick load of valid payloads: marshmallow's result, never accepting what it refuses."""

from __future__ import annotations

import copy
from typing import Any

import marshmallow as ma
import pytest

from app.schemas.base import BaseSchema, StrictInteger, StrictString
from app.schemas.chat import ChatCompletionRequestSchema
from app.schemas.completions import CompletionRequestSchema
from app.schemas.embeddings import EmbeddingRequestSchema
from app.schemas.quick import QuickLoad
from tests.unit import test_chat_schema_errors, test_chat_schema_options
from tests.unit.test_chat_schema import VALID

CHAT = ChatCompletionRequestSchema()
OTHER_VALID = [
    (CompletionRequestSchema(), {"model": "m", "prompt": "Say hi", "max_tokens": 5, "echo": True}),
    (CompletionRequestSchema(), {"model": "m", "prompt": [[1, 2], [3]], "stream": True}),
    (EmbeddingRequestSchema(), {"model": "m", "input": ["a", "b"], "dimensions": 8}),
    (EmbeddingRequestSchema(), {"model": "m", "input": "a", "encoding_format": "base64"}),
]
INVALID = [payload for payload, _ in test_chat_schema_errors.CASES + test_chat_schema_options.CASES]


def full_load(monkeypatch: pytest.MonkeyPatch, schema: ma.Schema, body: dict[str, Any]) -> Any:
    """What marshmallow alone makes of `body` (the quick path off at every level)."""
    with monkeypatch.context() as patch:
        patch.setattr(QuickLoad, "load", lambda self, data: None)
        return schema.load(copy.deepcopy(body))


@pytest.mark.parametrize("body", VALID.values(), ids=VALID.keys())
def test_valid_chat_payloads_load_as_marshmallow_loads_them(app, monkeypatch, body):
    with app.app_context():
        quick = CHAT._quick.load(copy.deepcopy(body))
        full = full_load(monkeypatch, CHAT, body)
    assert quick is not None
    assert quick == full
    assert list(quick) == list(full)


@pytest.mark.parametrize(("schema", "body"), OTHER_VALID)
def test_valid_completion_and_embedding_payloads(app, monkeypatch, schema, body):
    with app.app_context():
        quick = schema.load(copy.deepcopy(body))
        full = full_load(monkeypatch, schema, body)
    assert quick == full == body


@pytest.mark.parametrize("body", INVALID)
def test_invalid_payloads_are_left_to_marshmallow(app, body):
    with app.app_context():
        assert CHAT._quick.load(copy.deepcopy(body)) is None
        with pytest.raises(ma.ValidationError):
            CHAT.load(copy.deepcopy(body))


class Defaults(BaseSchema):
    name = StrictString(required=True)
    size = StrictInteger(load_default=3)
    note = StrictString()


def test_defaults_are_filled_and_missing_required_fields_refused(monkeypatch):
    schema = Defaults()
    assert schema.load({"name": "a", "x": 1}) == {"name": "a", "size": 3, "x": 1}
    assert schema._quick.load({"size": 1}) is None
    with pytest.raises(ma.ValidationError) as info:
        schema.load({"size": 1})
    assert "name" in info.value.messages


class Trimmed(BaseSchema):
    name = StrictString()

    @ma.pre_load
    def _trim(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {key: value.strip() for key, value in data.items()}


def test_schemas_with_load_hooks_always_take_the_full_load():
    schema = Trimmed()
    assert schema._quick is None
    assert schema.load({"name": " a "}) == {"name": "a"}
