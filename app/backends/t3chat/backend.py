"""The experimental t3chat backend: OpenAI chat completions over t3.chat's web protocol."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import requests

from app.backends import shaping
from app.backends.base import Backend, Call, Result, Stream
from app.backends.http import UpstreamHTTP
from app.backends.t3chat import credentials as creds
from app.backends.t3chat.credentials import Credentials
from app.backends.t3chat.failures import protocol_error, response_error, stream_failure
from app.backends.t3chat.parse import Event, Failure, Finish, ProtocolError, StreamParser, TextDelta
from app.backends.t3chat.request import CHAT_PATH, chat_body, chat_headers
from app.backends.t3chat.sessions import SessionPool
from app.backends.translate import counted_chat_usage
from app.errors import UpstreamError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://t3.chat"
# The web endpoint sits behind a bot filter that turns away library user agents.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/138.0.0.0 Safari/537.36"
)


class T3ChatBackend(Backend):
    """Chat completions through a t3.chat subscription (unofficial, may break without notice).

    Options: `base_url` (default https://t3.chat), `reasoning_effort` (low/medium/high, default
    low), `include_search` (default false), `timezone`, `user_agent`, `max_sessions` (cached
    credential sets, default 64) and the timeouts of `UpstreamHTTP`.
    """

    def __init__(self, name: str, options: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
        super().__init__(name, options, settings)
        self.base_url = str(self.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        headers = {
            "User-Agent": str(self.options.get("user_agent") or DEFAULT_USER_AGENT),
            **(self.options.get("headers") or {}),
        }
        self.sessions = SessionPool(name, self.base_url, {**self.options, "headers": headers})
        if creds.partially_configured(settings):
            log.warning(
                "t3chat backend %s: only one of COOKIES and CONVEX_SESSION_ID is set; "
                "both are needed, so API keys of the form <cookies>:<session> are used",
                name,
            )

    def chat(self, call: Call) -> Result:
        """Send the conversation to t3.chat; relay the answer as chunks or one completion."""
        credentials = creds.resolve(self.settings, call.client_token)
        options = {**self.options, **call.route.options}
        body, thread_id = chat_body(call, credentials.session_id, options)
        http = self.sessions.get(credentials)
        response = http.request(
            "POST",
            CHAT_PATH,
            json_body=body,
            headers=chat_headers(self.base_url, thread_id),
            stream=True,
        )
        error = response_error(response, credentials)
        if error is not None:
            response.close()
            log.info("t3chat %s: upstream answered %s", call.request_id, response.status_code)
            raise error
        events = self._events(http, response, credentials)
        if call.body.get("stream"):
            return Stream(self._chunks(call, events), close=response.close)
        try:
            return self._completion(call, events)
        finally:
            response.close()

    def close(self) -> None:
        """Close every cached session."""
        self.sessions.close()

    @staticmethod
    def _events(
        http: UpstreamHTTP, response: requests.Response, credentials: Credentials
    ) -> Iterator[TextDelta | Finish]:
        """Parsed events up to the finish; in-stream errors and bad formats raised as APIErrors."""
        parser = StreamParser()

        def parsed() -> Iterator[Event]:
            for chunk in http.iter_bytes(response):
                yield from parser.feed(chunk)
            yield from parser.close()

        try:
            for event in parsed():
                if isinstance(event, Failure):
                    raise stream_failure(event.message, credentials)
                yield event
                if isinstance(event, Finish):
                    # Nothing after the finish matters; the caller closes the response rather
                    # than wait on an upstream that might hold the body open.
                    return
        except ProtocolError as exc:
            raise protocol_error(exc) from exc
        raise UpstreamError(
            "t3.chat closed the stream before the answer finished.", code="t3chat_bad_response"
        )

    @staticmethod
    def _chunks(call: Call, events: Iterator[TextDelta | Finish]) -> Iterator[dict[str, Any]]:
        """Chunks as the events arrive; the role chunk waits for the first upstream event."""
        chunks = shaping.ChunkFactory(call.model, include_usage=call.wants_usage)
        texts: list[str] = []
        started = False
        for event in events:
            if not started:
                yield chunks.role(0)
                started = True
            if isinstance(event, TextDelta):
                texts.append(event.text)
                yield chunks.content(0, event.text)
            else:
                yield chunks.finish(0, event.reason)
        if call.wants_usage:
            yield chunks.usage(counted_chat_usage(call, "".join(texts)))

    @staticmethod
    def _completion(call: Call, events: Iterator[TextDelta | Finish]) -> dict[str, Any]:
        """One chat.completion from the whole stream."""
        texts, reason = [], "stop"
        for event in events:
            if isinstance(event, TextDelta):
                texts.append(event.text)
            else:
                reason = event.reason
        text = "".join(texts)
        choice = shaping.choice(0, shaping.message(text), reason)
        return shaping.chat_completion(call.model, [choice], counted_chat_usage(call, text))
