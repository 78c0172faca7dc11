"""Requests leave no reference cycles behind: what a request made is freed as it ends.

Objects in a cycle wait for the garbage collector, and a worker's full collections pause all
its streams; with thousands of streams per worker, per-request cycles also raise its memory.
Each request is sent through the WSGI interface as a server does (read the body, close it),
with the collector off, then one collection must find nothing unreachable but the cycle
werkzeug's URL matcher makes for every request.
"""

from __future__ import annotations

import gc
import json
import socket

import pytest
from werkzeug.test import EnvironBuilder

from tests.support.openai_upstream import chat_body, completion, make_app
from tests.support.scripted_upstream import CHUNKED, Scripted, chunk

KEY = "sk-garbage-test"
HI = [{"role": "user", "content": "hi"}]

REQUESTS = {
    "chat": ("POST", "/v1/chat/completions", {"model": "mock", "messages": HI}),
    "chat stream": (
        "POST",
        "/v1/chat/completions",
        {"model": "mock", "messages": HI, "stream": True},
    ),
    "completion": ("POST", "/v1/completions", {"model": "mock", "prompt": "hi"}),
    "completion stream": (
        "POST",
        "/v1/completions",
        {"model": "mock", "prompt": "hi", "stream": True},
    ),
    "embedding": ("POST", "/v1/embeddings", {"model": "mock", "input": "hi"}),
    "models": ("GET", "/v1/models", None),
    "invalid body": ("POST", "/v1/chat/completions", {"model": "mock", "messages": "hi"}),
    "unknown model": ("POST", "/v1/chat/completions", {"model": "nope", "messages": HI}),
    "unknown url": ("GET", "/v1/nothing", None),
    "wrong method": ("POST", "/health", None),
}


@pytest.fixture
def config(config):
    """The mock models, with a client key required."""
    return {**config, "GATEWAY_API_KEYS": [KEY]}


def _call(app, method: str, path: str, body: dict | None, key: str | None = KEY) -> str:
    """One request through the WSGI interface; its status line."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    builder = EnvironBuilder(path=path, method=method, json=body, headers=headers)
    environ = builder.get_environ()
    builder.close()
    started: list[str] = []
    answer = app.wsgi_app(environ, lambda status, headers, exc_info=None: started.append(status))
    try:
        b"".join(answer)
    finally:
        answer.close()
    return started[0]


def _werkzeug_matcher(garbage: list) -> set[int]:
    """Ids of the cycle werkzeug's URL matcher makes on every request (a recursive closure,
    freed by the next young-generation pass): not the gateway's."""
    known: set[int] = set()
    for obj in garbage:
        if getattr(obj, "__qualname__", "") == "StateMachineMatcher.match.<locals>._match":
            known |= {id(obj), id(obj.__closure__)}
            for cell in obj.__closure__:
                known |= {id(cell), id(cell.cell_contents)}
    return known


def _assert_no_cycle(app, name: str, method: str, path: str, body, key: str | None) -> None:
    status = _call(app, method, path, body, key)  # first use fills caches
    gc.collect()
    gc.disable()
    try:
        assert _call(app, method, path, body, key) == status
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    known = _werkzeug_matcher(garbage)
    left = sorted({type(obj).__qualname__ for obj in garbage if id(obj) not in known})
    assert left == [], f"{name} ({status}) left objects in cycles: {left}"


@pytest.mark.parametrize("name", [*REQUESTS, "missing key"])
def test_a_request_leaves_no_reference_cycle(app, name):
    method, path, body = REQUESTS.get(name, REQUESTS["chat"])
    _assert_no_cycle(app, name, method, path, body, None if name == "missing key" else KEY)


# -- through the `openai` backend, to an upstream on a real socket ----------------------------

_ANSWER = json.dumps(completion()).encode()
_EVENT = chunk(
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"real-model",'
    b'"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}\n\n'
)
_LIMITED = json.dumps(
    {"error": {"message": "Slow down.", "type": "requests", "param": None, "code": None}}
).encode()
# Each answer closes its connection (the scripted upstream hangs up after it): the next
# request must not find a pooled connection the upstream is closing.
_CLOSE = b"Connection: close\r\n"
UPSTREAM_ANSWERS = {
    "answer": b"HTTP/1.1 200 OK\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
    % (_CLOSE, len(_ANSWER), _ANSWER),
    "stream": CHUNKED.replace(b"\r\n", b"\r\n" + _CLOSE, 1)
    + _EVENT
    + chunk(b"data: [DONE]\n\n")
    + b"0\r\n\r\n",
    "stream cut short": CHUNKED.replace(b"\r\n", b"\r\n" + _CLOSE, 1) + _EVENT,
    "429": b"HTTP/1.1 429 Too Many Requests\r\n%sContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (_CLOSE, len(_LIMITED), _LIMITED),
    "500": b"HTTP/1.1 500 Oops\r\n%sContent-Length: 4\r\n\r\noops" % _CLOSE,
    "refused": None,
}


@pytest.mark.parametrize("name", UPSTREAM_ANSWERS)
def test_an_upstream_exchange_leaves_no_reference_cycle(monkeypatch, name):
    answer = UPSTREAM_ANSWERS[name]
    if answer is None:
        with socket.socket() as unused:
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
    else:
        upstream = Scripted([[(answer, 0), (None, 0)], [(answer, 0), (None, 0)]])
        port = upstream.port
    app = make_app(monkeypatch, backend={"base_url": f"http://127.0.0.1:{port}/v1"})
    body = chat_body(stream=name.startswith("stream"))
    try:
        _assert_no_cycle(app, name, "POST", "/v1/chat/completions", body, None)
    finally:
        if answer is not None:
            upstream.close()
