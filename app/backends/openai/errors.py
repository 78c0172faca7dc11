"""Upstream error bodies turned into the gateway's errors, with every secret scrubbed out."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.backends.upstream_status import status_error
from app.errors import APIError

# Keys that upstreams echo half-masked, e.g. "sk-proj-****************abcd".
_MASKED_KEY = re.compile(r"[\w-]*\*{3,}[\w-]*")
_SNIPPET = 200
_OPENAI_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")
# Error `type`s that say the request itself was wrong, and the ones that say "slow down".
_CLIENT_TYPES = frozenset({"invalid_request_error"})
_RATE_LIMIT = frozenset(
    {"rate_limit_exceeded", "requests", "rate_limit_error", "tokens", "insufficient_quota"}
)
# An error that says the path or method is not served, as some servers answer an unknown
# endpoint with a 2xx status (LM Studio: "Unexpected endpoint or method. (POST /v1/…)").
_UNSERVED = re.compile(r"\b(?:unexpected|unknown|unsupported)\s+(?:endpoint|route)\b", re.I)


@dataclass(frozen=True)
class ErrorFields:
    """The parts of an upstream error the client gets: message, type, param and code."""

    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: str | None = None


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret and every half-masked key replaced by `***`."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "***")
    return _MASKED_KEY.sub("***", text) if "***" in text else text


def error_fields(payload: Any) -> ErrorFields:
    """Read an error in any shape OpenAI-compatible servers use.

    `{"error": {...}}` (OpenAI, also wrapped twice by some proxies), `{"error": "text"}`
    (Ollama), top-level `message`/`type`/`code` (vLLM), `{"detail": ...}` (FastAPI) or a string.
    """
    error = payload
    for _ in range(3):
        if isinstance(error, dict) and isinstance(error.get("error"), dict):
            error = error["error"]
    if isinstance(error, str):
        return ErrorFields(message=error)
    if not isinstance(error, dict):
        return ErrorFields()
    message = error.get("message")
    if message is None:
        message = error.get("error") if error.get("error") is not None else error.get("detail")
    return ErrorFields(
        message=_text(message),
        type=_type(error.get("type")),
        param=error["param"] if isinstance(error.get("param"), str) else None,
        code=_code(error.get("code")),
    )


def _type(value: Any) -> str | None:
    # Class names such as vLLM's "BadRequestError" give way to the status's OpenAI type.
    return value if isinstance(value, str) and _OPENAI_TYPE.match(value) else None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _code(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, str | int) else None


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    # An HTML error page says nothing useful to an API client.
    if not text or text.startswith("<"):
        return ""
    return text[:_SNIPPET] + ("…" if len(text) > _SNIPPET else "")


def http_error(
    name: str,
    status: int,
    content: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[str | None],
) -> APIError:
    """The error for an upstream non-2xx answer: its status kept (5xx → 502), body enveloped."""
    fields = _fields(content, tuple(secrets))
    message = fields.message or f"Upstream `{name}` answered HTTP {status}."
    return status_error(
        status,
        message,
        type=fields.type,
        code=_client_code(fields.code),
        param=fields.param,
        headers=headers,
    )


def reported_error(name: str, data: bytes, secrets: Iterable[str | None]) -> APIError:
    """The error for an error object sent with a 2xx status: a stream's error event, or a body.

    Its status comes from a numeric `code`; else a message saying the endpoint is not served
    makes it the 404 OpenAI answers for an unknown path (not a 5xx: asking again cannot
    help); else the status comes from its `type`, else 502.
    """
    fields = _fields(data, tuple(secrets))
    status = 502
    if fields.code is not None and fields.code.isdigit() and 400 <= int(fields.code) < 600:
        status = int(fields.code)
    elif fields.message is not None and _UNSERVED.search(fields.message):
        return status_error(
            404,
            f"Upstream `{name}` does not serve this endpoint: {fields.message}",
            code="upstream_endpoint_not_found",
        )
    elif fields.type in _CLIENT_TYPES:
        status = 400
    elif fields.type in _RATE_LIMIT or fields.code in _RATE_LIMIT:
        status = 429
    message = fields.message or f"Upstream `{name}` reported an error."
    return status_error(
        status,
        message,
        type=fields.type,
        code=_client_code(fields.code),
        param=fields.param,
    )


def _fields(body: bytes, secrets: tuple[str | None, ...]) -> ErrorFields:
    """The error fields of an upstream body, scrubbed; a body that is not JSON is its message."""
    try:
        # Bad UTF-8 in the message must not turn the whole body into the message.
        fields = error_fields(json.loads(body.decode("utf-8-sig", "replace")))
    except (ValueError, RecursionError):
        # Scrubbed whole before it is cut: a cut secret would no longer match, and its
        # first characters would be shown.
        text = redact(body.decode("utf-8", "replace"), secrets)
        return ErrorFields(message=_snippet(text) or None)
    # Upstreams echo the bearer they received in any field, not only in `message`.
    return ErrorFields(
        message=_scrubbed(fields.message, secrets),
        # A `type` that held a secret is dropped: `***` is no OpenAI type.
        type=fields.type if _scrubbed(fields.type, secrets) == fields.type else None,
        param=_scrubbed(fields.param, secrets),
        code=_scrubbed(fields.code, secrets),
    )


def _scrubbed(value: str | None, secrets: tuple[str | None, ...]) -> str | None:
    return None if value is None else redact(value, secrets)


def _client_code(code: str | None) -> str | None:
    # A bare HTTP status (vLLM sends `"code": 400`) repeats the status and is no OpenAI code.
    return None if code is not None and code.isdigit() else code
