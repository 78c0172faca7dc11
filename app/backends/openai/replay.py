"""A complete answer to a stream request (an upstream that ignored `stream`), replayed as the
stream OpenAI would have sent for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.backends.base import Call, Stream
from app.backends.openai.usage import choice_texts, counted_usage
from app.backends.shaping import ChunkFactory
from app.backends.shaping_legacy import TextChunkFactory, text_choice
from app.errors import UpstreamError

# Keys of the answer that OpenAI repeats in every chunk of a stream.
_EXTRAS = ("service_tier", "system_fingerprint")


def replayed(operation: str, call: Call, answer: dict[str, Any], name: str) -> Stream:
    """The stream of `answer`, a complete `chat.completion` (operation "chat") or
    `text_completion`: each choice's role, content, refusal and tool calls, its finish, the
    usage chunk when the client asked for one, then `[DONE]`.

    The chunks are made before the stream starts, so a malformed answer is still an
    ordinary 502 that retries and fallbacks can handle.
    """
    extras = {key: answer[key] for key in _EXTRAS if key in answer}
    try:
        if operation == "chat":
            factory: Any = ChunkFactory(call.model, include_usage=call.wants_usage)
            make: Any = _chat
        else:
            factory, make = TextChunkFactory(call.model), _text
        # The answer's own id and time, as its stream would have carried them.
        factory.id = str(answer.get("id") or factory.id)
        factory.created = int(answer.get("created") or factory.created)
        if not answer["choices"]:
            raise ValueError("no choices")
        chunks = list(make(factory, answer["choices"]))
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise UpstreamError(
            f"Upstream `{name}` answered a stream request with a malformed JSON body.",
            code="upstream_bad_response",
        ) from exc
    usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else None
    if call.wants_usage:
        texts = [text for chunk in chunks for text in _texts(chunk)]
        usage = usage or counted_usage(operation, call.body, call.route.upstream_model, texts)
        chunks.append({**factory.chunk([]), "usage": usage})
    events = ({**chunk, **extras} for chunk in chunks)
    # With a usage chunk the tokens reach the gateway through it, and must not twice.
    return Stream(events, usage=None if call.wants_usage else usage)


def _chat(factory: ChunkFactory, choices: list[Any]) -> Iterator[dict[str, Any]]:
    for position, choice in enumerate(choices):
        index = int(choice.get("index", position))
        message = choice["message"]
        if not isinstance(message, dict):
            raise TypeError("a choice's message is not an object")
        yield factory.role(index)
        content = _text_of(message.get("content"))
        if content:
            yield factory.content(index, content, choice.get("logprobs"))
        refusal = message.get("refusal")
        if refusal:
            yield factory.delta(index, {"refusal": _string(refusal)})
        for tool_index, tool_call in enumerate(message.get("tool_calls") or ()):
            yield _tool_call(factory, index, tool_index, tool_call)
        if message.get("function_call"):
            yield factory.delta(index, {"function_call": dict(message["function_call"])})
        yield factory.finish(index, _string(choice.get("finish_reason") or "stop"))


def _tool_call(
    factory: ChunkFactory, index: int, tool_index: int, tool_call: dict[str, Any]
) -> dict[str, Any]:
    """A function call as its first (and only) delta; another kind of call (`custom`) as it
    came, with its place in the list."""
    if tool_call.get("type", "function") != "function":
        return factory.delta(index, {"tool_calls": [{"index": tool_index, **tool_call}]})
    function = tool_call["function"]
    return factory.tool_call(
        index,
        tool_index,
        call_id=_string(tool_call.get("id") or ""),
        name=_string(function.get("name") or ""),
        arguments=_string(function.get("arguments") or ""),
    )


def _text(factory: TextChunkFactory, choices: list[Any]) -> Iterator[dict[str, Any]]:
    for position, choice in enumerate(choices):
        item = text_choice(
            int(choice.get("index", position)),
            _string(choice["text"]),
            _string(choice.get("finish_reason") or "stop"),
        )
        item["logprobs"] = choice.get("logprobs")
        yield factory.chunk([item])


def _text_of(content: Any) -> str:
    """A message's content as text: a string, or the text of its parts (some servers send
    OpenAI's request shape back)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        return "".join(_string(part["text"]) for part in content if part.get("type") == "text")
    raise TypeError("content is neither text nor parts")


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("a text field is not a string")
    return value


def _texts(chunk: dict[str, Any]) -> Iterator[str]:
    """The generated text a chunk carries (counted when the upstream reported no usage)."""
    for choice in chunk["choices"]:
        yield from choice_texts(choice)
