"""Legacy completions for backends that only chat: each prompt becomes one user message.

Each prompt is sent as its own chat request (with the client's `n`); choice `i` of prompt `p`
becomes choice `p * n + i`, as OpenAI numbers them. `echo` prepends the prompt to the text;
`best_of` is accepted and ignored (chat APIs cannot rank candidates); `logprobs` asks the chat
answer for its tokens' log probabilities; `suffix`, and `logprobs` with `echo` (the prompt's
tokens have none in a chat answer), are refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma

from app.backends import shaping
from app.backends.base import Backend, Call, Result, Stream
from app.backends.shaping_legacy import (
    TokenPrompt,
    add_usage,
    estimated_usage,
    finish_reason,
    prompt_usage,
    text_choice,
    text_completion,
    text_logprobs,
)
from app.errors import InvalidRequestError, UnsupportedError
from app.schemas.chat import ChatCompletionRequestSchema
from app.schemas.problems import request_error
from app.services.legacy_stream import text_stream
from app.tokens import decode_tokens

# The spec's own default for the legacy endpoint (chat has none).
DEFAULT_MAX_TOKENS = 16
# Each prompt costs one upstream chat call; the spec's `n` maximum bounds the whole request.
MAX_CHOICES = 128
_COMPLETION_ONLY = ("prompt", "suffix", "echo", "logprobs", "best_of")
_CHAT_SCHEMA = ChatCompletionRequestSchema()


def completion_via_chat(backend: Backend, call: Call) -> Result:
    """Answer a completion request with `backend.chat`, as a text_completion or its stream.

    Usage the chat answer reports is kept where a provider reported it; where the gateway
    counted it (`shaping.CountedUsage`), each prompt is counted as plain text, as OpenAI's
    completions endpoint counts it, instead of as a chat message with its framing tokens.
    """
    body = call.body
    if body.get("suffix"):
        raise UnsupportedError("suffix is not supported by this model.", param="suffix")
    if body.get("logprobs") is not None and body.get("echo"):
        raise UnsupportedError(
            "logprobs with echo is not supported by this model (it is served through a chat "
            "API, which gives no log probabilities for the prompt's tokens).",
            param="logprobs",
        )
    prompts = prompt_texts(body.get("prompt"), call.route.upstream_model)
    n = body.get("n") or 1
    if len(prompts) * n > MAX_CHOICES:
        raise InvalidRequestError(
            f"This model is served through a chat API: at most {MAX_CHOICES} choices "
            f"(prompts x n) per request; this request asks for {len(prompts) * n}.",
            param="prompt",
        )
    max_tokens = body.get("max_tokens")
    max_tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens

    def ask(prompt: str) -> Result:
        if max_tokens == 0:
            return _nothing_generated(call, prompt, n)
        return backend.chat(chat_call(call, prompt, max_tokens))

    if body.get("stream"):
        return text_stream(call, prompts, n, ask)
    return _complete(call, prompts, n, ask)


def prompt_texts(prompt: Any, model: str) -> list[str]:
    """The prompts as text; token arrays are decoded with the model's tiktoken encoding (and
    bill as the ids sent: `TokenPrompt`)."""
    if prompt is None:
        # OpenAI's default prompt, <|endoftext|>: one token, no text to answer.
        return [TokenPrompt("", 1)]
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt[0], str):
        return list(prompt)
    if isinstance(prompt[0], int):
        return [_decode(prompt, "prompt", model)]
    return [_decode(tokens, f"prompt[{i}]", model) for i, tokens in enumerate(prompt)]


def _decode(tokens: list[int], param: str, model: str) -> TokenPrompt:
    text = decode_tokens(tokens, model)
    if text is None:
        raise InvalidRequestError(
            "This model takes text prompts, and this token array could not be decoded into "
            "text (unknown token id, or no tokenizer available). Send the prompt as a string.",
            param=param,
        )
    return TokenPrompt(text, len(tokens))


def chat_call(call: Call, prompt: str, max_tokens: int) -> Call:
    """The chat request for one prompt: the client's options, the prompt as one user message."""
    body = {key: value for key, value in call.body.items() if key not in _COMPLETION_ONLY}
    # A plain str: the chat schema takes only exact strings (a TokenPrompt is a subclass).
    body["messages"] = [{"role": "user", "content": str(prompt)}]
    body["max_tokens"] = max_tokens
    if call.body.get("logprobs") is not None:
        # The legacy `logprobs: k` is the chat API's top_logprobs (both 0-5 alternatives here).
        body["logprobs"], body["top_logprobs"] = True, call.body["logprobs"]
    try:
        # Chat-only fields the completion schema let through unchecked (such as
        # `max_completion_tokens` or `tools`) must be valid before a chat backend reads them.
        body = _CHAT_SCHEMA.load(body)
    except ma.ValidationError as exc:
        raise request_error(exc.messages) from exc
    return Call(body, call.route, call.client_token, call.request_id)


def _nothing_generated(call: Call, prompt: str, n: int) -> Result:
    """`max_tokens: 0`: no text to generate, so no upstream call (chat APIs refuse 0)."""
    usage = estimated_usage(prompt, [], call.route.upstream_model)
    if not call.body.get("stream"):
        choices = [shaping.choice(i, shaping.message(""), "length") for i in range(n)]
        return shaping.chat_completion(call.model, choices, usage)
    chunks = shaping.ChunkFactory(call.model, include_usage=call.wants_usage)
    events = [chunks.finish(i, "length") for i in range(n)]
    if call.wants_usage:
        events.append(chunks.usage(usage))
    return Stream(iter(events))


def _complete(
    call: Call, prompts: list[str], n: int, ask: Callable[[str], Result]
) -> dict[str, Any]:
    echo = bool(call.body.get("echo"))
    model = call.route.upstream_model
    choices: list[dict[str, Any]] = []
    usage: dict[str, int] | None = None
    for p, prompt in enumerate(prompts):
        answer = ask(prompt)
        texts = []
        for item in sorted(answer.get("choices") or [], key=lambda c: c.get("index", 0)):
            text = (item.get("message") or {}).get("content") or ""
            texts.append(text)
            index = p * n + int(item.get("index", 0))
            reason = finish_reason(item.get("finish_reason"))
            # Offsets count from the start of the prompt, as OpenAI's do (also without echo).
            logprobs = text_logprobs(item.get("logprobs"), len(prompt))
            choices.append(text_choice(index, prompt + text if echo else text, reason, logprobs))
        part = prompt_usage(answer.get("usage"), prompt, texts, model)
        usage = add_usage(usage, part)
    return text_completion(call.model, choices, usage)
