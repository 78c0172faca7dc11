"""Helpers for tests of the `openai` backend: a models mapping, a gateway on the fake upstream,
SSE bodies, trickled bodies."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from app import create_app, observe

UPSTREAM = "http://upstream.test/v1"
CHAT_URL = UPSTREAM + "/chat/completions"
# Recognisable fake secrets: none of them may ever reach a response body or a log record.
SERVER_KEY = "sk-SECRET-upstream-123"
CLIENT_KEY = "sk-CLIENT-own-key-456"
KEY_ENV = "TEST_UPSTREAM_KEY"


def models_mapping(
    backend: dict[str, Any] | None = None,
    models: list[dict[str, Any]] | None = None,
    backends: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A models mapping with the `openai` backend `up` (plus `backends`) and `gw` → `real-model`."""
    options = {"type": "openai", "base_url": UPSTREAM, "api_key_env": KEY_ENV, **(backend or {})}
    default = [{"id": "gw", "backend": "up", "model": "real-model"}]
    return {
        "backends": {"up": options, **(backends or {})},
        "models": default if models is None else models,
    }


def make_app(monkeypatch, backend=None, models=None, backends=None, **config: Any):
    """A gateway app whose `gw` model goes to the fake upstream, with the server key set."""
    monkeypatch.setenv(KEY_ENV, SERVER_KEY)
    settings = {
        "TESTING": True,
        "MODELS": models_mapping(backend, models, backends),
        "GATEWAY_API_KEYS": [],
        "RETRY_BACKOFF_BASE": 0.0,
        **config,
    }
    return create_app(settings)


class StreamGateway:
    """A gateway on the fake upstream (`make_app`, given `models` and `config`) that posts
    stream requests and keeps the Exchange recorded for each in `exchanges`."""

    def __init__(
        self,
        monkeypatch: Any,
        models: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **config: Any,
    ) -> None:
        app = make_app(monkeypatch, models=models, **config)
        self.exchanges: list[observe.Exchange] = []
        observe.add_observer(app, self.exchanges.append)
        self.client = app.test_client()
        self.headers = headers

    def __call__(
        self, path: str = "/v1/chat/completions", body: dict[str, Any] | None = None, **extra: Any
    ) -> tuple[Any, bytes, observe.Exchange]:
        """Post `body` (else a chat stream request with `extra`) to `path`; returns the
        response, its body read to the end, and its Exchange."""
        request = body or chat_body(stream=True, **extra)
        response = self.client.post(path, json=request, headers=self.headers)
        data = response.get_data()
        response.close()
        return response, data, self.exchanges[-1]


def chat_body(**extra: Any) -> dict[str, Any]:
    """A minimal chat request for the model `gw`."""
    return {"model": "gw", "messages": [{"role": "user", "content": "Say hi"}], **extra}


def completion(content: str = "Hello!", model: str = "real-model", **extra: Any) -> dict:
    """A `chat.completion` as an upstream would send it."""
    return {
        "id": "chatcmpl-up1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        **extra,
    }


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """A `chat.completion.chunk` as an upstream would send it."""
    return {
        "id": "chatcmpl-up1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "real-model",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


def stream_chunks(*texts: str) -> list[dict[str, Any]]:
    """Role chunk, one content chunk per text, and a finish chunk."""
    return [
        chunk({"role": "assistant", "content": ""}),
        *(chunk({"content": text}) for text in texts),
        chunk({}, "stop"),
    ]


def sse_body(
    events: Iterable[dict[str, Any] | str], *, done: bool = True, eol: str = "\n"
) -> bytes:
    """An SSE body: one `data:` event per item (dicts as JSON), then `[DONE]` unless told not to."""
    items = [
        e if isinstance(e, str) else json.dumps(e, ensure_ascii=False, separators=(",", ":"))
        for e in events
    ]
    if done:
        items.append("[DONE]")
    return "".join(f"data: {item}{eol}{eol}" for item in items).encode()


def sse_payloads(body: bytes) -> list[Any]:
    """The `data:` payloads of a gateway SSE body: dicts, and `[DONE]` as a string."""
    out: list[Any] = []
    for block in body.decode().split("\n\n"):
        if block.startswith("data: "):
            payload = block.removeprefix("data: ")
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


class _Pieces(io.RawIOBase):
    """A raw stream that hands out the given pieces one read at a time."""

    def __init__(self, pieces: list[bytes], fail: Callable[[], Exception] | None) -> None:
        self.pieces = list(pieces)
        self.fail = fail
        self.reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.reads += 1
        if not self.pieces:
            if self.fail is not None:
                raise self.fail()
            return 0
        piece = self.pieces.pop(0)
        assert len(piece) <= len(buffer)
        buffer[: len(piece)] = piece
        return len(piece)


def trickle(pieces: list[bytes], fail: Callable[[], Exception] | None = None) -> io.BufferedReader:
    """A response body that arrives in exactly these pieces (then fails, when `fail` is given)."""
    return io.BufferedReader(_Pieces(pieces, fail), buffer_size=1 << 20)


def split_every(data: bytes, size: int) -> list[bytes]:
    """`data` cut into pieces of `size` bytes."""
    return [data[i : i + size] for i in range(0, len(data), size)]
