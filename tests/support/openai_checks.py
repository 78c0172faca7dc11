"""Strict response checkers for every end-to-end test: one import for bodies, chunks and streams.

- Bodies (`check_chat_completion`, `check_completion`, `check_embeddings`, `check_model`,
  `check_model_list`, `check_error`): the official SDK's pydantic types in strict mode with no
  unknown keys, plus the spec's JSON schema with every object closed.
- Streams (`check_chat_sse`, `check_chat_stream`, `check_error_sse`, ...): every chunk as above,
  plus one id and `created`, the role first, tool-call deltas in order, one finish_reason per
  choice, the usage chunk last when asked for, and `[DONE]` at the very end.
- `post_sse` reads a stream raw (exact bytes and arrival times); `RecordingTransport` records an
  SDK client's traffic so a fixture can check all of it.
"""

from tests.support.body_checks import (
    check_chat_chunk,
    check_chat_completion,
    check_choice_semantics,
    check_completion,
    check_embeddings,
    check_error,
    check_invalid_param,
    check_model,
    check_model_list,
    sdk_strict,
)
from tests.support.spec import assert_matches_spec, spec_errors
from tests.support.sse import SSEEvent, SSEResult, iter_sse, post_sse
from tests.support.stream_checks import (
    DONE,
    assemble_chat_stream,
    check_chat_sse,
    check_chat_stream,
    check_completion_sse,
    check_completion_stream,
    check_error_sse,
)

__all__ = [
    "DONE",
    "SSEEvent",
    "SSEResult",
    "assemble_chat_stream",
    "assert_matches_spec",
    "check_chat_chunk",
    "check_chat_completion",
    "check_chat_sse",
    "check_chat_stream",
    "check_choice_semantics",
    "check_completion",
    "check_completion_sse",
    "check_completion_stream",
    "check_embeddings",
    "check_error",
    "check_error_sse",
    "check_invalid_param",
    "check_model",
    "check_model_list",
    "iter_sse",
    "post_sse",
    "sdk_strict",
    "spec_errors",
]
