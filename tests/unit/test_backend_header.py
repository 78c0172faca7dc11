"""The `x-gateway-backend` header for any routed model id, and streams closed on failure.

A stream is closed when its response cannot be built or started.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from werkzeug.test import EnvironBuilder

from app import backends as backend_registry
from app import observe
from app.api import responses
from app.api.responses import header_value
from tests.support import openai_checks as checks
from tests.support.scripted_backend import SCRIPTED

CHAT = "/v1/chat/completions"
MODELS = {
    "backends": {"mock": {"type": "mock"}, "ok": {"type": "scripted", "chunks": 3}},
    "models": [
        {"id": "mock/*", "backend": "mock", "strip_prefix": "mock/"},
        {"id": "ok", "backend": "ok"},
    ],
}
# Model ids a pattern routes, with what the header says for each.
ODD_IDS = [
    ("mock/模型", "mock/%E6%A8%A1%E5%9E%8B"),
    ("mock/a\nb", "mock/a%0Ab"),
    ("mock/a\r\nX-Injected: 1", "mock/a%0D%0AX-Injected:%201"),
    ("mock/\u2028x", "mock/%E2%80%A8x"),
    ("mock/tab\there\x00\x7f", "mock/tab%09here%00%7F"),
    ("mock/100% sure ", "mock/100%25%20sure%20"),
    ("mock/ft:gpt-4o:org/x~y", "mock/ft:gpt-4o:org/x~y"),
]


@pytest.fixture
def config(monkeypatch):
    """The mock behind a `mock/*` pattern, and a scripted streaming backend."""
    monkeypatch.setitem(backend_registry.BACKEND_TYPES, "scripted", SCRIPTED)
    return {"TESTING": True, "MODELS": MODELS, "GATEWAY_API_KEYS": []}


@pytest.fixture
def notified(app) -> list[observe.Exchange]:
    """The exchanges the app's observers were told about (once per finished response)."""
    seen: list[observe.Exchange] = []
    observe.add_observer(app, seen.append)
    return seen


def chat(model: str, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}


def closes(app) -> int:
    return app.extensions["gateway.backends"]["ok"].closed


@pytest.mark.parametrize(("text", "expected"), ODD_IDS)
def test_header_value_is_printable_ascii_and_reversible(text, expected):
    shown = header_value(text)
    assert shown == expected
    assert all(0x21 <= ord(char) <= 0x7E for char in shown)
    assert unquote(shown) == text


def test_header_value_survives_a_lone_surrogate():
    assert header_value("a\ud800") == "a%ED%A0%80"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize(("model", "expected"), ODD_IDS)
def test_any_routed_id_is_answered_with_an_encoded_header(client, model, expected, stream):
    response = client.post(CHAT, json=chat(model, stream))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["x-gateway-backend"] == expected
    if stream:
        assert response.get_data().endswith(b"data: [DONE]\n\n")
    else:
        assert response.get_json()["model"] == model


def test_stream_is_closed_when_start_response_fails(app, notified):
    calls = []

    def refusing_start_response(status: str, headers: list, exc_info: Any = None) -> None:
        calls.append(status)
        raise ValueError("the server refused a header")

    environ = EnvironBuilder(path=CHAT, method="POST", json=chat("ok", True)).get_environ()
    with pytest.raises(ValueError, match="refused a header"):
        app(environ, refusing_start_response)
    assert calls == ["200 OK"]
    assert closes(app) == 1
    # The response's close callbacks ran once: request log, metrics (active-streams gauge).
    assert len(notified) == 1 and notified[0].stream


def test_stream_is_closed_when_an_after_request_hook_fails(app, client):
    # As in production: the failure becomes a 500 instead of reaching the test.
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.after_request
    def broken(response):
        raise RuntimeError("a hook failed")

    response = client.post(CHAT, json=chat("ok", True))
    assert response.status_code == 500
    checks.check_error(response.get_json(), 500)
    assert closes(app) == 1


def test_stream_is_closed_when_its_response_cannot_be_built(app, client, monkeypatch):
    def broken(stream, headers):
        raise ValueError("bad header")

    monkeypatch.setattr(responses, "sse_response", broken)
    response = client.post(CHAT, json=chat("ok", True))
    assert response.status_code == 500
    checks.check_error(response.get_json(), 500)
    assert closes(app) == 1


def test_a_sent_stream_is_closed_once_by_the_server(app, client, notified):
    response = client.post(CHAT, json=chat("ok", True))
    assert response.get_data().endswith(b"data: [DONE]\n\n")
    response.close()
    assert closes(app) == 1
    assert len(notified) == 1
