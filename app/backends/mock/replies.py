"""The mock's answer for each choice: text, JSON or calls, cut by `stop` and the token limit."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.backends import shaping
from app.backends.mock import tools
from app.backends.mock.extract import Literals, parse
from app.backends.mock.instances import MAX_SIZE, InstanceBuilder
from app.backends.mock.logprobs import choice_logprobs, token_logprobs
from app.backends.mock.text import (
    json_keys,
    last_user_text,
    mentions_json,
    reply_text,
    tool_results,
    words,
)
from app.backends.translate import dumps_arguments, max_output_tokens, stop_sequences
from app.errors import InvalidRequestError
from app.tokens import count_text, token_pieces

_NO_PARAMETERS = {"type": "object", "properties": {}}


@dataclass
class CallReply:
    """One function call of a reply; `pieces` are its arguments in token-sized fragments."""

    id: str
    name: str
    pieces: list[str]

    @property
    def arguments(self) -> str:
        """The arguments JSON (cut short when the token limit was reached)."""
        return "".join(self.pieces)


@dataclass
class Reply:
    """One choice: its content pieces or calls, finish reason and completion tokens."""

    style: str
    finish_reason: str
    completion_tokens: int
    pieces: list[str] = field(default_factory=list)
    calls: list[CallReply] = field(default_factory=list)
    # One ChatCompletionTokenLogprob per piece, when the request asked for `logprobs`.
    token_logprobs: list[dict[str, Any]] | None = None

    @property
    def logprobs(self) -> dict[str, Any] | None:
        """The choice's `logprobs` object, or None when they were not asked for."""
        if self.token_logprobs is None:
            return None
        return choice_logprobs(self.token_logprobs if self.style == tools.TEXT else None)

    @property
    def content(self) -> str | None:
        """The message content; None when the reply calls functions."""
        return "".join(self.pieces) if self.style == tools.TEXT else None

    def message(self) -> dict[str, Any]:
        """The `choices[].message` object."""
        if self.style == tools.TOOLS:
            return shaping.message(
                None, [shaping.tool_call(c.id, c.name, c.arguments) for c in self.calls]
            )
        if self.style == tools.FUNCTION:
            call = self.calls[0]
            return shaping.function_call_message(self.content, call.name, call.arguments)
        return shaping.message(self.content)


class Composer:
    """What every choice of one request shares; `reply(index)` makes choice `index`."""

    def __init__(self, body: dict[str, Any], model: str) -> None:
        self.messages = body["messages"]
        self.model = model
        self.prompt = last_user_text(self.messages)
        self.literals = parse(self.prompt)
        self.results = tool_results(self.messages)
        self.plan = tools.plan(body, self.prompt, after_result=bool(self.results))
        self.stops = stop_sequences(body)
        self.limit = max_output_tokens(body)
        response_format = body.get("response_format")
        self.format = response_format if isinstance(response_format, dict) else {}
        if self.format.get("type") == "json_object" and not mentions_json(self.messages):
            # OpenAI's own check, so that code written against the mock passes it too.
            raise InvalidRequestError(
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
                param="messages",
            )
        self.logprobs = body.get("logprobs") is True
        self.top_logprobs = body.get("top_logprobs") or 0
        # The seed, the choice index and what the answer is made from decide every word.
        self._seed = f"{body.get('seed')}|{len(self.messages)}|{self.prompt}|{self.results}"

    def _rng(self, index: int) -> random.Random:
        digest = hashlib.sha256(f"{index}|{self._seed}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def reply(self, index: int) -> Reply:
        """The answer for choice `index`, with its tokens' log probabilities when asked for."""
        reply = self._reply(index)
        if self.logprobs:
            seed = f"{index}|{self._seed}"
            reply.token_logprobs = token_logprobs(reply.pieces, seed, self.top_logprobs)
        return reply

    def _reply(self, index: int) -> Reply:
        rng, literals = self._rng(index), Literals(self.prompt, self.literals)
        if self.plan.style == tools.TEXT:
            return self._text_reply(*self._content(rng, literals))
        calls = []
        for function in self.plan.functions:
            parameters = function.get("parameters")
            schema = parameters if isinstance(parameters, dict) and parameters else _NO_PARAMETERS
            arguments, cut = _instance(schema, literals, rng, dumps_arguments)
            call_id = f"call_{rng.getrandbits(96):024x}"
            calls.append((call_id, function["name"], arguments))
            if cut:
                return self._calls_reply(calls, cut=True)
        return self._calls_reply(calls)

    def _content(self, rng: random.Random, literals: Literals) -> tuple[str, bool]:
        """The content, and whether it was cut short for being too long to write."""
        kind = self.format.get("type")
        if kind == "json_schema":
            spec = self.format.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, dict) else None
            return _instance(schema or _NO_PARAMETERS, literals, rng, _dumps)
        if kind == "json_object":
            keys = json_keys(self.messages)
            value = {key: words(rng, 2, 6) for key in keys}
            value = value or {"response": reply_text(self.prompt, self.results, rng)}
            return _dumps(value), False
        return reply_text(self.prompt, self.results, rng), False

    def _text_reply(self, text: str, cut: bool = False) -> Reply:
        stops = [text.find(stop) for stop in self.stops if stop in text]
        if stops:
            text, cut = text[: min(stops)], False
        pieces, spent = [], 0
        for piece, tokens in token_pieces(text, self.model):
            if self.limit is not None and spent + tokens > self.limit:
                return self._cut(tools.TEXT, pieces=pieces)
            pieces.append(piece)
            spent += tokens
        return Reply(tools.TEXT, "length" if cut else "stop", spent, pieces)

    def _calls_reply(self, calls: list[tuple[str, str, str]], cut: bool = False) -> Reply:
        """Calls in order, each name then its argument tokens, until the token limit."""
        out, spent = [], 0
        for call_id, name, arguments in calls:
            if self.limit is not None and spent >= self.limit:
                return self._cut(self.plan.style, calls=out)
            spent += count_text(name, self.model)
            out.append(CallReply(call_id, name, []))
            for piece, tokens in token_pieces(arguments, self.model):
                if self.limit is not None and spent + tokens > self.limit:
                    return self._cut(self.plan.style, calls=out)
                out[-1].pieces.append(piece)
                spent += tokens
        finish = "length" if cut else self.plan.style
        return Reply(self.plan.style, finish, spent, calls=out)

    def _cut(self, style: str, **parts: Any) -> Reply:
        # Generation stopped at the limit: OpenAI bills exactly `max_tokens`, never more, even
        # when the last token was part of a character or a function name it did not finish.
        return Reply(style, "length", self.limit or 0, **parts)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _instance(
    schema: Any, literals: Literals, rng: random.Random, dumps: Callable[[Any], str]
) -> tuple[str, bool]:
    """An instance of `schema` as JSON text, and whether it was cut short.

    An instance too large to build is cut mid-way, as a model's answer is at its output limit.
    """
    builder = InstanceBuilder(schema, literals, rng)
    text = dumps(builder.build())
    if builder.full:
        return text[: min(MAX_SIZE, len(text) - 1)], True
    return text, False
