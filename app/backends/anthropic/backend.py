"""The Anthropic backend: chat completions through the native Claude Messages API."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import requests

from app.backends.anthropic.caching import cache_mark
from app.backends.anthropic.capabilities import choice_option
from app.backends.anthropic.errors import response_error
from app.backends.anthropic.prefill import PrefillPolicy
from app.backends.anthropic.request import DEFAULT_MAX_TOKENS, build_request
from app.backends.anthropic.response import chat_completion
from app.backends.anthropic.stops import cut_message
from app.backends.anthropic.stream import StreamTranslator
from app.backends.anthropic.structured import NATIVE_OPTION
from app.backends.anthropic.thinking import MODE_OPTION
from app.backends.anthropic.thinking_memory import StreamThinking, ThinkingMemory, remember_answer
from app.backends.base import Backend, Call, Result, Stream, missing_key_error
from app.backends.discovery import LIST_TIMEOUT, ModelListCache, listed_items, ttl_option
from app.backends.http import UpstreamHTTP
from app.errors import APIError, UpstreamError
from config import secret_from_env

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"


class AnthropicBackend(Backend):
    """Claude models via `POST /v1/messages`.

    Options: `api_key_env` (env var holding the key, default ANTHROPIC_API_KEY), `base_url`
    (default https://api.anthropic.com), `anthropic_version` (default 2023-06-01), `beta`
    (list of `anthropic-beta` flags), `default_max_tokens` (sent when the client gives no
    limit, default 4096), `prompt_caching` (cache breakpoints, default off) with
    `prompt_cache_ttl` (`5m` or `1h`, default `5m`), `thinking` (`budget`, `adaptive` or
    `none`) and `structured_outputs` (`native` or `tool`), which replace what the upstream model
    id says (default: by model id), `discover_ttl` (s the model list is kept, default 300), plus
    the connection options of `UpstreamHTTP`.
    """

    def __init__(self, name: str, options: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        super().__init__(name, options, settings)
        self.key_env = str(self.options.get("api_key_env") or DEFAULT_KEY_ENV)
        self.api_key = secret_from_env(self.key_env)
        self.version = str(self.options.get("anthropic_version") or DEFAULT_VERSION)
        beta = self.options.get("beta") or []
        self.beta = ",".join(beta) if isinstance(beta, list) else str(beta)
        self.default_max_tokens = int(self.options.get("default_max_tokens", DEFAULT_MAX_TOKENS))
        if self.default_max_tokens < 1:
            raise ValueError(f"backend `{name}`: default_max_tokens must be at least 1")
        # What every request is built with (request.build_request): read once, here.
        self.request_options = {
            "default_max_tokens": self.default_max_tokens,
            # The `cache_control` of the gateway's breakpoints; None: no prompt caching.
            "cache_mark": cache_mark(name, self.options),
            # For upstreams whose model ids are not Anthropic's (proxies): None, by model id.
            "thinking_mode": choice_option(name, self.options, "thinking", MODE_OPTION),
            "native_format": choice_option(name, self.options, "structured_outputs", NATIVE_OPTION),
        }
        base_url = str(self.options.get("base_url") or DEFAULT_BASE_URL)
        self.http = UpstreamHTTP(name, base_url, self.options)
        # `/v1/models` asks on every call: one listing per TTL, not a round trip per call.
        self.discovery = ModelListCache(name, self._fetch_models, ttl_option(name, self.options))
        self.prefill = PrefillPolicy()
        # Thinking blocks of answers with tool calls, sent back with their results.
        self.thinking = ThinkingMemory()

    def _headers(self) -> dict[str, str]:
        if not self.api_key:
            raise missing_key_error(self.name, self.key_env)
        headers = {"x-api-key": self.api_key, "anthropic-version": self.version}
        if self.beta:
            headers["anthropic-beta"] = self.beta
        return headers

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.http.request(method, path, headers=self._headers(), **kwargs)
        if response.status_code >= 400:
            raise response_error(self.name, response, self.api_key)
        return response

    def chat(self, call: Call) -> Result:
        """A chat completion (or stream of chunks) from one Messages API call."""
        plan = build_request(
            call.body, call.route.upstream_model, self.request_options, self.thinking
        )
        model = call.route.upstream_model
        payload = self.prefill.payload(plan.payload, model)
        stream = bool(payload.get("stream"))
        thinking = "thinking" in payload
        stops = plan.local_stops
        started = time.monotonic()
        try:
            response = self._send("POST", "/v1/messages", json_body=payload, stream=stream)
        except APIError as exc:
            again = self.prefill.retry(payload, model, exc)
            if again is None:
                raise
            # Both sends answer one request: the second gets what is left of total_timeout.
            left = max(self.http.total_timeout - (time.monotonic() - started), 0.0)
            response = self._send(
                "POST", "/v1/messages", json_body=again, stream=stream, total=left
            )
        if stream:
            recorder = StreamThinking(self.thinking) if thinking else None
            translator = StreamTranslator(
                self.name,
                call.model,
                include_usage=call.wants_usage,
                answer_tool=plan.answer_tool,
                secret=self.api_key,
                stops=stops,
                legacy=plan.legacy,
                on_event=recorder.event if recorder else None,
            )
            events = translator.translate(
                self.http.iter_bytes(response),
                self.http.deadline(response),
                functools.partial(self.http.wait_until, response),
            )
            return Stream(recorder.chunks(events) if recorder else events, response.close)
        message = cut_message(self._json(response), stops)
        completion = chat_completion(message, call.model, plan.answer_tool, plan.legacy)
        if thinking:
            remember_answer(self.thinking, message, completion)
        return completion

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep JSON
            raise UpstreamError(
                f"Upstream `{self.name}` answered with a body that is not JSON.",
                code="upstream_bad_response",
            ) from exc
        if not isinstance(data, dict):
            raise UpstreamError(
                f"Upstream `{self.name}` answered with an unexpected body.",
                code="upstream_bad_response",
            )
        return data

    def list_models(self) -> list[dict[str, Any]]:
        """The models `GET /v1/models` reports, as OpenAI model objects (cached)."""
        return self.discovery.get()

    def _fetch_models(self) -> list[dict[str, Any]]:
        total = min(self.http.total_timeout, LIST_TIMEOUT)
        data = self._json(self._send("GET", "/v1/models", params={"limit": "1000"}, total=total))
        return [
            {
                "id": item["id"],
                "object": "model",
                "created": _timestamp(item.get("created_at")),
                "owned_by": "anthropic",
            }
            for item in listed_items(data, "data", self.name)
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        ]

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()


def _timestamp(value: Any) -> int:
    """Unix seconds of an RFC 3339 time such as `2024-02-29T00:00:00Z` (0 when unreadable)."""
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
