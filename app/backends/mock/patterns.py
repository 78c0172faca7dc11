"""Strings that match a JSON Schema `pattern`, generated from the parsed regular expression."""

from __future__ import annotations

import functools
import random
import re
from re import _constants as sre  # the parser's opcodes; public enough since Python 3.11
from re import _parser as sre_parse
from typing import Any

_MAX_EXTRA_REPEATS = 3
_MAX_REPEATS = 1000
# Nested repeats multiply (`((a{1000}){1000}){1000}`): longer samples are given up on.
_MAX_LENGTH = 10_000
_CATEGORY_CHARS = {
    sre.CATEGORY_DIGIT: "0123456789",
    sre.CATEGORY_WORD: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
    sre.CATEGORY_SPACE: " ",
    sre.CATEGORY_NOT_DIGIT: "abcxyz",
    sre.CATEGORY_NOT_WORD: " -.,",
    sre.CATEGORY_NOT_SPACE: "abcxyz0123",
}
_CATEGORY_SOURCE = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
}
# Characters tried, in order, for negated classes and `.`.
_FALLBACK_CHARS = "abcxyzABC0123-_ .@"


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> tuple[re.Pattern[str], Any] | None:
    try:
        return re.compile(pattern), sre_parse.parse(pattern)
    except (re.error, ValueError, TypeError, OverflowError, RecursionError):
        return None


@functools.lru_cache(maxsize=256)
def _too_long(pattern: str) -> bool:
    """True when every match of `pattern` is longer than a sample may be: known from the
    pattern alone, so that such a pattern costs nothing however often it is asked for."""
    compiled = _compile(pattern)
    return compiled is not None and compiled[1].getwidth()[0] > _MAX_LENGTH


def matches(pattern: str, value: str) -> bool:
    """True when `value` contains a match of `pattern` (an invalid pattern matches everything)."""
    compiled = _compile(pattern)
    return compiled is None or compiled[0].search(value) is not None


def _class_chars(items: list[tuple[Any, Any]], rng: random.Random) -> str:
    if items and items[0][0] is sre.NEGATE:
        excluded = re.compile("[^" + "".join(_class_source(op, av) for op, av in items[1:]) + "]")
        return next((ch for ch in _FALLBACK_CHARS if excluded.match(ch)), "")
    op, av = rng.choice(items)
    if op is sre.LITERAL:
        return chr(av)
    if op is sre.RANGE:
        return chr(rng.randint(av[0], min(av[1], av[0] + 25)))
    if op is sre.CATEGORY:
        return rng.choice(_CATEGORY_CHARS.get(av, "a"))
    return "a"


def _class_source(op: Any, av: Any) -> str:
    if op is sre.LITERAL:
        return re.escape(chr(av))
    if op is sre.RANGE:
        return f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}"
    if op is sre.CATEGORY:
        return _CATEGORY_SOURCE.get(av, "")
    return ""


def _emit(parsed: Any, rng: random.Random, groups: dict[int, str]) -> str:
    out = []
    for op, av in parsed:
        if op is sre.LITERAL:
            out.append(chr(av))
        elif op is sre.NOT_LITERAL:
            out.append(next(ch for ch in _FALLBACK_CHARS if ord(ch) != av))
        elif op is sre.ANY:
            out.append(rng.choice("abcxyz"))
        elif op is sre.IN:
            out.append(_class_chars(av, rng))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, sub = av
            if low > _MAX_REPEATS:
                raise ValueError("pattern repeats too many times")
            high = low + _MAX_EXTRA_REPEATS if high is sre.MAXREPEAT else high
            count = rng.randint(max(low, min(1, high)), max(low, min(high, low + 2)))
            length = sum(map(len, out))
            for _ in range(count):
                out.append(_emit(sub, rng, groups))
                length += len(out[-1])
                if length > _MAX_LENGTH:
                    raise ValueError("pattern sample too long")
        elif op is sre.SUBPATTERN:
            text = _emit(av[-1], rng, groups)
            if av[0] is not None:
                groups[av[0]] = text
            out.append(text)
        elif op is sre.ATOMIC_GROUP:
            out.append(_emit(av, rng, groups))
        elif op is sre.BRANCH:
            out.append(_emit(rng.choice(av[1]), rng, groups))
        elif op is sre.GROUPREF:
            out.append(groups.get(av, ""))
        elif op is sre.GROUPREF_EXISTS:
            out.append(_emit(av[1], rng, groups))
        # Anchors and lookarounds add no characters; the final check catches what they reject.
    return "".join(out)


def sample(pattern: str, rng: random.Random) -> str | None:
    """A string matching `pattern`, or None when none could be made (best effort)."""
    compiled = _compile(pattern)
    if compiled is None or _too_long(pattern):
        return None
    regex, parsed = compiled
    for _ in range(3):
        try:
            text = _emit(parsed, rng, {})
        except (ValueError, IndexError, RecursionError):
            return None
        if regex.search(text):
            return text
    return None
