"""SSE responses: headers, [DONE], mid-stream errors as one event, and closing the backend."""

from __future__ import annotations

import json

import pytest

from app import backends as backend_registry
from app.backends import Stream
from app.services.streaming import EventStream
from tests.support import openai_checks as checks
from tests.support.scripted_backend import SCRIPTED, SECRET_DETAIL
from tests.support.sse import event_data

SCRIPTED_MODELS = {
    "backends": {
        "ok": {"type": "scripted", "chunks": 3},
        "endless": {"type": "scripted", "chunks": -1},
        "breaks": {"type": "scripted", "chunks": 5, "fail_after": 2, "error": "upstream"},
        "crashes": {"type": "scripted", "chunks": 5, "fail_after": 2, "error": "crash"},
        "dead": {"type": "scripted", "fail_after": 0, "error": "upstream"},
    },
    "models": [{"id": name, "backend": name} for name in ("ok", "endless", "breaks", "crashes")]
    + [{"id": "dead", "backend": "dead"}],
}


@pytest.fixture
def config(monkeypatch):
    """The test config with scripted backends registered for this test only."""
    monkeypatch.setitem(backend_registry.BACKEND_TYPES, "scripted", SCRIPTED)
    return {"TESTING": True, "MODELS": SCRIPTED_MODELS, "GATEWAY_API_KEYS": []}


def _request(model: str, **extra) -> dict:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        **extra,
    }


def _events(body: bytes) -> list[str]:
    assert body.endswith(b"\n\n"), body[-40:]
    return [event_data(raw) for raw in body[:-2].split(b"\n\n")]


def _backend(app, name: str):
    return app.extensions["gateway.backends"][name]


def test_stream_headers_events_and_done(app, client):
    request = _request("ok", stream_options={"include_usage": True})
    response = client.post("/v1/chat/completions", json=request)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.headers["x-gateway-backend"] == "ok/ok"
    assembled = checks.check_chat_sse(_events(response.data), request)
    assert assembled["choices"][0]["message"]["content"] == "part0 part1 part2 "
    assert _backend(app, "ok").closed == 1


def test_error_after_first_chunk_is_one_error_event_without_done(app, client):
    response = client.post("/v1/chat/completions", json=_request("breaks"))
    assert response.status_code == 200
    events = _events(response.data)
    error = checks.check_error_sse(events)
    assert error.code == "upstream_error" and error.type == "server_error"
    assert "broke mid-stream" in error.message
    # role, two content chunks, then the error, and nothing after it.
    assert len(events) == 4 and sum('"error"' in event for event in events) == 1
    assert _backend(app, "breaks").closed == 1


def test_unexpected_exception_mid_stream_reveals_nothing(app, client, caplog):
    response = client.post("/v1/chat/completions", json=_request("crashes"))
    error = checks.check_error_sse(_events(response.data))
    assert error.type == "server_error" and "Request id" in error.message
    assert SECRET_DETAIL not in response.get_data(as_text=True)
    assert _backend(app, "crashes").closed == 1


def test_error_before_first_byte_is_a_plain_json_error(app, client):
    response = client.post("/v1/chat/completions", json=_request("dead"))
    assert response.status_code == 502
    assert response.mimetype == "application/json"
    checks.check_error(response.get_json(), 502)
    assert _backend(app, "dead").closed == 1


def test_client_disconnect_closes_backend_stream(app, client):
    response = client.post("/v1/chat/completions", json=_request("endless"), buffered=False)
    body = iter(response.response)
    first = [next(body) for _ in range(3)]
    assert all(chunk.startswith(b"data: {") for chunk in first)
    response.close()  # what the WSGI server does when the client goes away
    backend = _backend(app, "endless")
    assert backend.closed == 1
    pulled = backend.pulled
    with pytest.raises(StopIteration):
        next(body)
    assert backend.pulled == pulled


def test_disconnect_before_first_event_still_closes_backend_stream(app, client):
    response = client.post("/v1/chat/completions", json=_request("endless"), buffered=False)
    response.close()
    assert _backend(app, "endless").closed == 1


def test_body_closed_unread_still_closes_backend_stream():
    closes = []
    body = EventStream(Stream(iter([{"id": "x"}]), close=lambda: closes.append(1)), "r")
    body.close()
    body.close()
    assert closes == [1]
    assert list(body) == []


def test_raw_events_relayed_verbatim_and_closed_once():
    closes = []
    raw = [b'data: {"a":1}\n\n', b"data: [DONE]\n\n"]
    body = EventStream(Stream(iter(raw), close=lambda: closes.append(1), append_done=False), "r")
    assert b"".join(body) == b"".join(raw)
    body.close()
    assert closes == [1]


def test_events_are_compact_json_lines():
    chunk = {"id": "x", "choices": [{"delta": {"content": "a\nb"}}]}
    body = EventStream(Stream(iter([chunk])), "r")
    first, done = list(body)
    assert first == b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
    assert done == b"data: [DONE]\n\n"


def _wsgi_stream(app, model: str):
    """Call the app as a WSGI server does; the app iterable and the status it started."""
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(
        path="/v1/chat/completions", method="POST", json=_request(model)
    ).get_environ()
    started = []
    body = app.wsgi_app(environ, lambda status, headers, exc_info=None: started.append(status))
    return body, started


def test_the_wsgi_body_is_the_event_stream_itself_and_closing_it_ends_the_request(app):
    from app import observe

    finished = []
    observe.add_observer(app, finished.append)
    body, started = _wsgi_stream(app, "ok")
    # No per-event wrappers between the server and the stream.
    assert isinstance(body, EventStream)
    assert started == ["200 OK"]
    assert list(body)[-1] == b"data: [DONE]\n\n"
    assert finished == []  # observers run when the server closes the body, not before
    body.close()
    body.close()
    assert len(finished) == 1 and finished[0].status == 200


def test_a_client_gone_mid_stream_still_ends_the_request_once(app):
    from app import observe

    finished = []
    observe.add_observer(app, finished.append)
    body, _ = _wsgi_stream(app, "endless")
    events = iter(body)
    next(events)
    body.close()
    assert len(finished) == 1


def test_a_stream_the_client_left_is_freed_without_the_garbage_collector(app):
    """Reference counting alone frees the body, response and backend stream of a stream closed
    mid-way (tests/unit/test_request_garbage.py covers streams read to their end)."""
    import gc
    import weakref

    body, _ = _wsgi_stream(app, "endless")
    next(iter(body))
    refs = [weakref.ref(body), weakref.ref(body.response), weakref.ref(body.stream)]
    gc.disable()
    try:
        body.close()
        del body
        assert [ref() for ref in refs] == [None, None, None]
    finally:
        gc.enable()
