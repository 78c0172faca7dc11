"""The mock's words: seeded filler, prompt echo, tool-result replies and JSON-mode keys."""

from __future__ import annotations

import random
import re
from typing import Any

from app.backends.mock.extract import parse
from app.backends.translate import content_text

VOCABULARY = tuple(
    (
        "the gateway answers every request with a deterministic reply so that clients agents "
        "and parsers can be tested offline without any provider key while streaming usage "
        "tools and structured output behave like a real model"
    ).split()
)
_ECHO_LIMIT = 200
_KEY = re.compile(r"^[A-Za-z_][\w -]{0,63}(?<! )$")
_KEY_WORDS = re.compile(r"\b(?:keys?|fields?|propert(?:y|ies)|attributes?|columns?)\b", re.I)
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")


def words(rng: random.Random, low: int, high: int) -> str:
    """Between `low` and `high` seeded words of the mock's vocabulary."""
    return " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(low, high)))


def message_text(message: dict[str, Any]) -> str:
    """The text of a message's content (text parts joined); empty for anything else."""
    content = message.get("content")
    return content_text(content) if isinstance(content, str | list) else ""


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """Text of the last user message, or an empty string."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return ""


def _call_names(message: dict[str, Any]) -> dict[str, str]:
    names = {}
    for call in message.get("tool_calls") or []:
        if isinstance(call, dict) and isinstance(call.get("function"), dict):
            names[str(call.get("id"))] = str(call["function"].get("name") or "tool")
    return names


def _role(message: Any) -> Any:
    return message.get("role") if isinstance(message, dict) else None


def tool_results(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(tool name, result text) of the tool/function messages that end the conversation."""
    start = len(messages)
    while start and _role(messages[start - 1]) in ("tool", "function"):
        start -= 1
    before = messages[start - 1] if start else None
    names = _call_names(before) if isinstance(before, dict) else {}
    results = []
    for message in messages[start:]:
        name = message.get("name") or names.get(str(message.get("tool_call_id")), "tool")
        results.append((str(name), message_text(message)))
    return results


def shorten(text: str, limit: int = _ECHO_LIMIT) -> str:
    """Whitespace collapsed, cut to `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rstrip() + "..."


def reply_text(prompt: str, results: list[tuple[str, str]], rng: random.Random) -> str:
    """The text answer: the tool results, or an echo of the prompt, then seeded words."""
    filler = words(rng, 8, 16)
    if results:
        said = "; ".join(f'{name} returned "{shorten(text)}"' for name, text in results)
        return f"This is a mock reply based on the tool results: {said}. {filler.capitalize()}."
    if prompt.strip():
        return f'This is a mock reply to "{shorten(prompt)}": {filler}.'
    return f"This is a mock reply: {filler}."


def json_keys(messages: list[dict[str, Any]]) -> list[str]:
    """Keys the instructions name in quotes; those in sentences about keys or fields win."""
    named: list[str] = []
    about_keys: list[str] = []
    for message in messages:
        if _role(message) not in ("system", "developer", "user"):
            continue
        for sentence in _SENTENCES.split(message_text(message)):
            found = [
                str(lit.value)
                for lit in parse(sentence)
                if lit.kind == "quoted" and _KEY.match(str(lit.value))
            ]
            found = [key for key in found if key.lower() != "json"]
            named += found
            if _KEY_WORDS.search(sentence):
                about_keys += found
    return list(dict.fromkeys(about_keys or named))


def mentions_json(messages: list[Any]) -> bool:
    """True when some message's text says "json" (in any case), as OpenAI requires of a
    request for `response_format: json_object`."""
    return any(
        "json" in content_text(message.get("content")).lower()
        for message in messages
        if isinstance(message, dict)
    )
