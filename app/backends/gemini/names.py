"""OpenAI function names as names Gemini accepts, and Gemini's names back as the client's."""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Iterator
from typing import Any

# Gemini's rule for function names: a letter or underscore first, then letters, digits,
# `_ . : -`, at most 64 in all. OpenAI also allows a leading digit or dash (e.g. `2fa_check`).
VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")
MAX_LENGTH = 64
_REFUSED_CHARACTERS = re.compile(r"[^A-Za-z0-9_.:-]")


class FunctionNames:
    """The function names of one request as Gemini gets them, and the way back.

    A name Gemini accepts is sent as it is; any other gets an alias, which answers turn back
    into the client's name. The aliases depend only on the request body, so the request and
    the answer of a call (and the declarations and the replayed history of a request) agree.
    """

    def __init__(self, names: Iterable[str] = ()) -> None:
        originals = list(dict.fromkeys(names))
        taken = {name for name in originals if VALID_NAME.fullmatch(name)}
        self._aliases: dict[str, str] = {}
        self._originals: dict[str, str] = {}
        for name in originals:
            if name not in taken:
                alias = _alias(name, taken)
                taken.add(alias)
                self._aliases[name] = alias
                self._originals[alias] = name

    @classmethod
    def of(cls, body: dict[str, Any]) -> FunctionNames:
        """The names of a chat request: declared functions and calls replayed in its history."""
        return cls(name for name in _names_in(body) if isinstance(name, str))

    def to_gemini(self, name: str) -> str:
        """The name Gemini gets for the client's `name`."""
        alias = self._aliases.get(name)
        if alias is not None:
            return alias
        return name if VALID_NAME.fullmatch(name) else _alias(name, set())

    def to_client(self, name: str) -> str:
        """The client's name for a name in Gemini's answer."""
        return self._originals.get(name, name)


def _alias(name: str, taken: set[str]) -> str:
    """`_` + the name with refused characters replaced; a hash keeps it unique when needed."""
    alias = "_" + _REFUSED_CHARACTERS.sub("_", name)
    if len(alias) <= MAX_LENGTH and alias not in taken and alias[1:] == name:
        return alias
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    for n in itertools.count():
        suffix = f"_{digest}" + (f"_{n}" if n else "")
        candidate = alias[: MAX_LENGTH - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def _names_in(body: dict[str, Any]) -> Iterator[Any]:
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and tool.get("type") == "function":
            yield (tool.get("function") or {}).get("name")
    for function in body.get("functions") or ():
        yield function.get("name") if isinstance(function, dict) else None
    for message in body.get("messages") or ():
        if not isinstance(message, dict):
            continue
        for call in message.get("tool_calls") or ():
            if isinstance(call, dict):
                yield (call.get("function") or {}).get("name")
        if isinstance(message.get("function_call"), dict):
            yield message["function_call"].get("name")
        if message.get("role") == "function":
            yield message.get("name")
