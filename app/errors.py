"""The gateway's exception tree; every error a client sees is one of these.

APIError                     500 server_error
├── InvalidRequestError      400 invalid_request_error
│   ├── UnsupportedError     400 invalid_request_error (the model cannot do that)
│   ├── PayloadTooLarge      413 invalid_request_error
│   └── UnsupportedMediaType 415 invalid_request_error / unsupported_media_type
├── AuthenticationError      401 invalid_request_error / invalid_api_key
│   └── MissingAPIKeyError   401 invalid_request_error (no key sent: code null)
├── PermissionDeniedError    403 invalid_request_error
│   └── EmbeddingsNotAllowed 403 invalid_request_error (the model cannot embed)
├── NotFoundError            404 invalid_request_error
│   └── ModelNotFoundError   404 invalid_request_error / model_not_found
├── RateLimitError           429 rate_limit_exceeded
├── UpstreamError            502 server_error (bad or failed upstream answer)
└── UpstreamTimeoutError     504 timeout
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """Root of every error the gateway reports in the OpenAI envelope."""

    status = 500
    type = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        self.headers = dict(headers or {})
        # True when another attempt (retry or fallback) may succeed.
        self.retryable = retryable

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI error envelope for this error."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequestError(APIError):
    status, type = 400, "invalid_request_error"


class UnsupportedError(InvalidRequestError):
    code = "unsupported_parameter"


class PayloadTooLarge(InvalidRequestError):
    status, code = 413, "request_too_large"


class UnsupportedMediaType(InvalidRequestError):
    """A request body the gateway cannot read as sent, e.g. compressed (Content-Encoding)."""

    status, code = 415, "unsupported_media_type"


class AuthenticationError(APIError):
    status, type, code = 401, "invalid_request_error", "invalid_api_key"


class MissingAPIKeyError(AuthenticationError):
    """No API key came with the request; OpenAI's 401 for that has a null `code`."""

    code = None


class PermissionDeniedError(APIError):
    status, type = 403, "invalid_request_error"


class EmbeddingsNotAllowed(PermissionDeniedError):
    """OpenAI's answer when /v1/embeddings is asked of a model that does not embed."""

    def __init__(self) -> None:
        super().__init__("You are not allowed to generate embeddings from this model")


class NotFoundError(APIError):
    status, type = 404, "invalid_request_error"


class ModelNotFoundError(NotFoundError):
    code = "model_not_found"

    def __init__(self, model: str, **kwargs: Any) -> None:
        # OpenAI names no param here (`param: null`), though the model is the cause.
        super().__init__(
            f"The model `{model}` does not exist or you do not have access to it.", **kwargs
        )


class RateLimitError(APIError):
    status, type, code = 429, "requests", "rate_limit_exceeded"


class UpstreamError(APIError):
    status, type = 502, "server_error"


class UpstreamOverloadedError(APIError):
    """The provider says it is overloaded (Gemini UNAVAILABLE, Anthropic overloaded_error): 503,
    as OpenAI answers when overloaded; clients retry it later."""

    status, type = 503, "server_error"


class UpstreamTimeoutError(APIError):
    status, type, code = 504, "timeout", "upstream_timeout"


def drop_tracebacks(exc: BaseException) -> BaseException:
    """`exc` with its tracebacks and those of the exceptions chained to it detached.

    A traceback holds the frames it went through, and a frame often holds the exception in a
    local: a reference cycle that keeps a whole failed request in memory until a full
    collection. For exceptions whose frames are of no further use once translated.
    """
    chained: BaseException | None = exc
    while chained is not None:
        chained.__traceback__ = None
        chained = chained.__cause__ or chained.__context__
    return exc
