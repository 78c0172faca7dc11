"""The Gemini backend: Google's Generative Language API (v1beta), native wire format."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import requests

from app.backends.base import Backend, Call, Result, Stream, missing_key_error
from app.backends.discovery import LIST_TIMEOUT, ModelListCache, listed_items, ttl_option
from app.backends.gemini import embeddings
from app.backends.gemini.errors import response_error
from app.backends.gemini.request import RequestOptions, build_request
from app.backends.gemini.response import chat_completion
from app.backends.gemini.stream import StreamTranslator
from app.backends.gemini.tools import ThoughtSignatures
from app.backends.http import UpstreamHTTP
from app.backends.images import ImagePolicy
from app.backends.upstream_status import passed_headers
from app.errors import UpstreamError
from config import secret_from_env

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
DEFAULT_KEY_ENV = "GEMINI_API_KEY"
SCHEMA_MODES = ("openapi", "json")


class GeminiBackend(Backend):
    """Gemini models via `models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
    `:embedContent` and `:batchEmbedContents`; the key travels in the `x-goog-api-key` header.

    Options: `api_key_env` (default GEMINI_API_KEY), `base_url` (default the public v1beta
    endpoint), `schema_mode` (`openapi`: schemas reduced to Gemini's Schema subset, the
    default; `json`: sent as JSON Schema in `parametersJsonSchema` / `responseJsonSchema`),
    `generation_config` (defaults merged under each request's settings), `safety_settings`,
    `thought_signature_placeholder` (default: on for `gemini-3*` models), `discover_ttl` (s the
    model list is kept, default 300), the image options of `ImagePolicy`, and the connection
    options of `UpstreamHTTP`.
    """

    def __init__(self, name: str, options: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        super().__init__(name, options, settings)
        self.key_env = str(self.options.get("api_key_env") or DEFAULT_KEY_ENV)
        self.api_key = secret_from_env(self.key_env)
        if not self.api_key:
            log.warning("backend %s: environment variable %s is not set", name, self.key_env)
        schema_mode = str(self.options.get("schema_mode", "openapi"))
        if schema_mode not in SCHEMA_MODES:
            raise ValueError(f"backend `{name}`: schema_mode must be one of {SCHEMA_MODES}")
        self.request_options = RequestOptions(
            images=ImagePolicy.from_options(self.options),
            schema_mode=schema_mode,
            generation_config=self.options.get("generation_config"),
            safety_settings=self.options.get("safety_settings"),
        )
        self.signatures = ThoughtSignatures()
        base_url = str(self.options.get("base_url") or DEFAULT_BASE_URL)
        self.http = UpstreamHTTP(name, base_url, self.options)
        # `/v1/models` asks on every call: one listing per TTL, not a round trip per call.
        self.discovery = ModelListCache(name, self._fetch_models, ttl_option(name, self.options))

    def chat(self, call: Call) -> Result:
        """A chat completion (or a stream of chunks) from generateContent."""
        model = call.route.upstream_model
        body = build_request(call.body, self._options_for(model), self.signatures, model)
        if not call.body.get("stream"):
            response = self._post(f"{_model_path(model)}:generateContent", body)
            return chat_completion(call, self._json(response), self.signatures)
        response = self._post(
            f"{_model_path(model)}:streamGenerateContent", body, stream=True, params={"alt": "sse"}
        )
        translator = StreamTranslator(call, self.signatures, self.name, self.api_key)
        events = translator.events(
            self.http.iter_bytes(response),
            self.http.deadline(response),
            functools.partial(self.http.wait_until, response),
        )
        return Stream(
            events,
            close=response.close,
            headers=passed_headers(response),
        )

    def embeddings(self, call: Call) -> dict[str, Any]:
        """Embeddings via embedContent (one string) or batchEmbedContents (an array)."""
        model = call.route.upstream_model
        texts = embeddings.input_texts(call.body)
        if isinstance(call.body["input"], str):
            payload = self._json(
                self._post(
                    f"{_model_path(model)}:embedContent",
                    embeddings.embed_request(texts[0], call.body),
                )
            )
            return embeddings.embedding_list(call, texts, embeddings.vectors(payload, 1))
        vectors: list[list[float]] = []
        for start in range(0, len(texts), embeddings.BATCH_LIMIT):
            batch = texts[start : start + embeddings.BATCH_LIMIT]
            body = embeddings.batch_request(model.removeprefix("models/"), batch, call.body)
            payload = self._json(self._post(f"{_model_path(model)}:batchEmbedContents", body))
            vectors.extend(embeddings.vectors(payload, len(batch)))
        return embeddings.embedding_list(call, texts, vectors)

    def list_models(self) -> list[dict[str, Any]]:
        """The models the key can use, as reported by `GET /models` (cached; none on failure)."""
        return self.discovery.get()

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()

    def _fetch_models(self) -> list[dict[str, Any]]:
        response = self.http.request(
            "GET",
            "/models",
            headers=self._headers(),
            params={"pageSize": "1000"},
            total=min(self.http.total_timeout, LIST_TIMEOUT),
        )
        if response.status_code != 200:
            raise response_error(response, self.name, self.api_key)
        payload = self._json(response)
        return [
            {
                "id": str(m.get("name", "")).removeprefix("models/"),
                "object": "model",
                "created": 0,
                "owned_by": "google",
            }
            for m in listed_items(payload, "models", self.name)
            if isinstance(m, dict) and m.get("name")
        ]

    def _options_for(self, model: str) -> RequestOptions:
        """Request options; Gemini 3 needs a placeholder for signatures the gateway lost."""
        placeholder = self.options.get("thought_signature_placeholder")
        if placeholder is None:
            placeholder = model.removeprefix("models/").startswith("gemini-3")
        if bool(placeholder) == self.request_options.placeholder_signature:
            return self.request_options
        return replace(self.request_options, placeholder_signature=bool(placeholder))

    def _headers(self) -> dict[str, str]:
        if not self.api_key:
            raise missing_key_error(self.name, self.key_env)
        return {"x-goog-api-key": self.api_key}

    def _post(
        self,
        path: str,
        body: dict[str, Any],
        *,
        stream: bool = False,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """POST to Gemini; a non-200 answer is read, closed and raised as an APIError."""
        response = self.http.request(
            "POST", path, json_body=body, headers=self._headers(), stream=stream, params=params
        )
        if response.status_code != 200:
            try:
                raise response_error(response, self.name, self.api_key)
            finally:
                response.close()
        return response

    def _json(self, response: requests.Response) -> dict[str, Any]:
        try:
            payload = json.loads(self.http.read_body(response))
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep JSON
            raise UpstreamError(
                f"Upstream `{self.name}` returned a body that is not JSON."
            ) from exc
        if not isinstance(payload, dict):
            raise UpstreamError(f"Upstream `{self.name}` returned an unexpected body.")
        return payload


def _model_path(model: str) -> str:
    """`/models/{model}`; a model given as `models/...` is not prefixed twice."""
    return "/models/" + quote(model.removeprefix("models/"), safe="-._~")
