"""OpenAI-compatible upstream: requests go on as clients sent them, answers come back as is."""

from __future__ import annotations

import codecs
import functools
import itertools
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any, cast

import requests

from app.backends import discovery
from app.backends.base import Backend, Call, ExactJSON, Result, Stream
from app.backends.http import UpstreamHTTP
from app.backends.openai.discovery import model_objects
from app.backends.openai.errors import http_error, reported_error
from app.backends.openai.replay import replayed
from app.backends.openai.rewrite import ModelRewriter
from app.backends.openai.stream import DONE, relay
from app.backends.openai.usage import UsageCounter, whole_seconds
from app.backends.upstream_status import passed_headers
from app.errors import APIError, UpstreamError
from config import secret_from_env

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
OPTIONS = frozenset(
    {
        "base_url",
        "api_key_env",
        "headers",
        "connect_timeout",
        "read_timeout",
        "total_timeout",
        "max_response_bytes",
        "pool_size",
        "keepalive_expiry",
        "forward_client_key",
        "discover_models",
        "discover_ttl",
    }
)
_PATHS = {
    "chat": "/chat/completions",
    "completion": "/completions",
    "embeddings": "/embeddings",
    "models": "/models",
}
# The array a well-formed answer of each operation must hold.
_REQUIRED = {"chat": "choices", "completion": "choices", "embeddings": "data"}
_JSON = {"Content-Type": "application/json"}
# Compressed event streams can sit in an upstream's compressor buffer: ask for none.
_SSE = {"Content-Type": "application/json", "Accept-Encoding": "identity"}


class OpenAIBackend(Backend):
    """Any server that speaks the OpenAI API (OpenAI, vLLM, Ollama, llama.cpp, Groq, OpenRouter).

    Options: `base_url`, `api_key_env` (the name of the environment variable holding the key),
    `headers`, `connect_timeout`, `read_timeout`, `total_timeout` (a whole answer, or the first
    event of a stream), `max_response_bytes`, `pool_size`, `keepalive_expiry`,
    `forward_client_key` (send the client's own bearer token instead of a server key),
    `discover_models` and `discover_ttl`.
    """

    def __init__(self, name: str, options: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        super().__init__(name, options, settings)
        _check_options(name, self.options)
        base_url = str(self.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.http = UpstreamHTTP(name, base_url, self.options)
        self.urls = {operation: base_url + path for operation, path in _PATHS.items()}
        self.forward_client_key = bool(self.options.get("forward_client_key", False))
        self.key = None if self.forward_client_key else _server_key(name, self.options)
        if self.key:
            self.http.session.headers["Authorization"] = f"Bearer {self.key}"
        self.discovery: discovery.ModelListCache | None = None
        if self.options.get("discover_models"):
            ttl = discovery.ttl_option(name, self.options)
            self.discovery = discovery.ModelListCache(name, self._fetch_models, ttl)

    def chat(self, call: Call) -> Result:
        """Forward a chat completion request; relay the answer or its stream."""
        return self._forward("chat", call, bool(call.body.get("stream")))

    def completion(self, call: Call) -> Result:
        """Forward a legacy completion request as it is."""
        return self._forward("completion", call, bool(call.body.get("stream")))

    def embeddings(self, call: Call) -> dict[str, Any]:
        """Forward an embeddings request as it is."""
        return cast(dict[str, Any], self._forward("embeddings", call, False))

    def list_models(self) -> list[dict[str, Any]]:
        """The upstream's own models when `discover_models` is on (cached); else none."""
        return self.discovery.get() if self.discovery is not None else []

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()

    def _forward(self, operation: str, call: Call, streaming: bool) -> Result:
        body = dict(call.body)
        body["model"] = call.route.upstream_model
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = _SSE if streaming else _JSON
        if self.forward_client_key and call.client_token:
            headers = {**headers, "Authorization": f"Bearer {call.client_token}"}
        response = self.http.request(
            "POST", self.urls[operation], data=payload, headers=headers, stream=streaming
        )
        secrets = (self.key, call.client_token)
        if not 200 <= response.status_code < 300:
            raise self._failure(response, secrets)
        if streaming and not self._is_json(response):
            return self._stream(operation, call, response, secrets)
        try:
            content = self.http.read_body(response)
        finally:
            response.close()
        if streaming:
            return self._replayed(operation, call, content, secrets)
        answer = self._parse(operation, content, secrets)
        answer["model"] = call.model
        created = whole_seconds(answer.get("created"))
        if created is not answer.get("created"):
            # A fractional `created` breaks clients that read the spec's integer: the answer is
            # encoded anew with whole seconds.
            answer["created"] = created
            return answer
        return _exact(answer, content, call.model)

    def _is_json(self, response: requests.Response) -> bool:
        """True when the answer to a stream request is one JSON body (an error, or an upstream
        that ignored `stream`) rather than events: its media type says so, or it names no
        event stream and its body starts with `{` (an SSE body starts with a field name)."""
        media = response.headers.get("Content-Type", "").partition(";")[0].strip().lower()
        if media == "text/event-stream":
            return False
        if media == "application/json" or media.endswith("+json"):
            return True
        return self.http.peek(response).removeprefix(codecs.BOM_UTF8).lstrip()[:1] == b"{"

    def _replayed(
        self, operation: str, call: Call, content: bytes, secrets: tuple[str | None, ...]
    ) -> Stream:
        """The stream a client asked for, from one JSON body the upstream sent instead: an
        error object raises that error (as it would without `stream`), a whole answer (the
        upstream ignored `stream`) is replayed as its stream."""
        return replayed(operation, call, self._parse(operation, content, secrets), self.name)

    def _failure(self, response: requests.Response, secrets: tuple[str | None, ...]) -> APIError:
        try:
            content = self.http.read_body(response)
        finally:
            response.close()
        return http_error(
            self.name, response.status_code, content, passed_headers(response), secrets
        )

    def _parse(
        self, operation: str, content: bytes, secrets: tuple[str | None, ...]
    ) -> dict[str, Any]:
        """A 2xx body as a dict; an error object or a malformed body raises."""
        try:
            try:
                answer = json.loads(content)
            except UnicodeDecodeError:
                # Invalid UTF-8 in an otherwise good answer is replaced, not fatal.
                answer = json.loads(content.decode("utf-8", "replace"))
        except (ValueError, RecursionError) as exc:
            raise UpstreamError(
                f"Upstream `{self.name}` sent an answer that is not JSON.",
                code="upstream_bad_response",
            ) from exc
        if isinstance(answer, dict) and isinstance(answer.get(_REQUIRED[operation]), list):
            return answer
        if isinstance(answer, dict) and answer.get("error"):
            raise reported_error(self.name, content, secrets)
        raise UpstreamError(
            f"Upstream `{self.name}` sent a malformed answer (no `{_REQUIRED[operation]}`).",
            code="upstream_bad_response",
        )

    def _stream(
        self,
        operation: str,
        call: Call,
        response: requests.Response,
        secrets: tuple[str | None, ...],
    ) -> Stream:
        counter = None
        if call.wants_usage:
            counter = UsageCounter(operation, call.body, call.route.upstream_model)
        stream = Stream(iter(()), close=response.close, append_done=False)

        def record(usage: dict[str, Any]) -> None:
            # The events are raw bytes: the gateway reads the usage (rate limits, logs,
            # metrics) from here when the stream ends.
            stream.usage = usage

        def complete() -> None:
            # The client has the whole answer: it may hang up while the body's end is read.
            stream.complete = True

        def whole(content: bytes) -> Iterator[dict[str, Any] | bytes]:
            # One JSON body sent as an event stream: read as under its own media type.
            replay = self._replayed(operation, call, content, secrets)
            stream.usage = replay.usage
            return itertools.chain(replay.events, (DONE,))

        stream.events = relay(
            self.name,
            self.http.iter_bytes(response),
            ModelRewriter(call.model, chat=operation == "chat"),
            lambda data: reported_error(self.name, data, secrets),
            counter=counter,
            deadline=self.http.deadline(response),
            finish=functools.partial(self.http.finish, response),
            on_usage=record,
            wait=functools.partial(self.http.wait_until, response),
            on_complete=complete,
            whole=whole,
            choices=_choices(operation, call.body),
        )
        return stream

    def _fetch_models(self) -> list[dict[str, Any]]:
        total = min(self.http.total_timeout, discovery.LIST_TIMEOUT)
        response = self.http.request("GET", self.urls["models"], total=total)
        if response.status_code != 200:
            raise self._failure(response, (self.key,))
        try:
            return model_objects(json.loads(response.content))
        except (ValueError, RecursionError) as exc:
            raise UpstreamError("The upstream model list is not JSON.") from exc


def _exact(answer: dict[str, Any], content: bytes, model: str) -> dict[str, Any]:
    """`answer` to be sent as the upstream's own bytes with `model` spliced in, when they can
    be: valid UTF-8 whose first `model` key is the top-level one (else it is encoded anew)."""
    if content.startswith(codecs.BOM_UTF8):
        # JSON sent on must not start with a byte order mark (RFC 8259 8.1); strict parsers
        # refuse one.
        content = content[len(codecs.BOM_UTF8) :]
    if not content.isascii():
        try:
            content.decode()
        except UnicodeDecodeError:
            return answer
    body = ModelRewriter(model).splice(content)
    return answer if body is None else ExactJSON(answer, body)


def _choices(operation: str, body: Mapping[str, Any]) -> int:
    """How many choices a stream answers `body` with: `n` for each prompt of a legacy batch."""
    n = body.get("n") or 1
    prompt = body.get("prompt")
    if operation == "completion" and isinstance(prompt, list) and len(prompt) > 1:
        # A list of token ids is one prompt; a list of strings or of token lists is a batch.
        if not isinstance(prompt[0], int):
            return n * len(prompt)
    return n


def _check_options(name: str, options: Mapping[str, Any]) -> None:
    """Refuse a key written into the models file; warn about options nobody reads."""
    if "api_key" in options:
        raise ValueError(
            f"backend `{name}`: do not put the key in the models file; set an environment "
            "variable and name it with `api_key_env`"
        )
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        log.warning("backend %s: ignoring unknown options %s", name, ", ".join(unknown))


def _server_key(name: str, options: Mapping[str, Any]) -> str | None:
    """The provider key from the environment variable named by `api_key_env`."""
    env_name = options.get("api_key_env")
    key = secret_from_env(env_name)
    if env_name and not key:
        log.warning("backend %s: %s is not set; requests go without a key", name, env_name)
    return key
