"""Literal values in a prompt (quoted strings, numbers, dates, e-mails, URLs, enum mentions)."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

_QUOTED = re.compile(
    r'"([^"\n]+)"|“([^”\n]+)”|‘([^’\n]+)’|«([^»\n]+)»|`([^`\n]+)`|(?<!\w)\'([^\'\n]+)\'(?!\w)'
)
_DATE = r"\b\d{4}-\d{2}-\d{2}"
_TIME = r"[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?"
# Unquoted values with a JSON Schema string format, most specific first.
_FORMATS = (
    ("uuid", re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b")),
    ("uri", re.compile(r"\bhttps?://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]")),
    ("email", re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+\b")),
    ("date-time", re.compile(_DATE + _TIME)),
    ("date", re.compile(_DATE + r"\b")),
)
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_HUGE = 1e300
_BOOLEAN = re.compile(r"\b(true|false)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Literal:
    """One value found in the text, where it was, and its kind (`quoted`, a format, ...)."""

    value: object
    start: int
    end: int
    kind: str


def _mask(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _normal_datetime(raw: str) -> str | None:
    value = raw.replace(" ", "T", 1)
    if value.count(":") == 1:
        value += ":00"
    if not value.endswith("Z") and "+" not in value[10:] and "-" not in value[10:]:
        value += "Z"
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value


def _format_value(kind: str, raw: str) -> str | None:
    if kind == "date-time":
        return _normal_datetime(raw)
    if kind == "date":
        try:
            date.fromisoformat(raw)
        except ValueError:
            return None
    return raw


def _number(raw: str) -> int | float | None:
    raw = raw.replace(",", "")
    if "." in raw or "e" in raw or "E" in raw:
        value = float(raw)
        if not math.isfinite(value) or abs(value) >= _HUGE:
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    return int(raw) if len(raw) < 300 else None


def parse(text: str) -> tuple[Literal, ...]:
    """Every literal in `text`, in text order; numbers inside quotes, dates or URLs are skipped."""
    found = []
    for match in _QUOTED.finditer(text):
        value = next(group for group in match.groups() if group is not None)
        if value.strip():
            found.append(Literal(value, match.start(), match.end(), "quoted"))
    rest = _mask(text, [(lit.start, lit.end) for lit in found])
    for kind, pattern in _FORMATS:
        spans = []
        for match in pattern.finditer(rest):
            value = _format_value(kind, match.group())
            spans.append(match.span())
            if value is not None:
                found.append(Literal(value, match.start(), match.end(), kind))
        rest = _mask(rest, spans)
    for match in _NUMBER.finditer(rest):
        number = _number(match.group())
        if number is not None:
            found.append(Literal(number, match.start(), match.end(), "number"))
    for match in _BOOLEAN.finditer(rest):
        found.append(Literal(match.group(1).lower() == "true", *match.span(), "boolean"))
    return tuple(sorted(found, key=lambda lit: lit.start))


@functools.lru_cache(maxsize=1024)
def _mention_pattern(option: str) -> re.Pattern[str]:
    # `new_york` is also named by "new york" and "new-york".
    words = [re.escape(word) for word in re.split(r"[\s_-]+", option) if word] or ["(?!)"]
    return re.compile(r"(?<!\w)" + r"[\s_-]+".join(words) + r"(?!\w)", re.IGNORECASE)


class Literals:
    """The literals of one text, each handed out at most once, in text order."""

    def __init__(self, text: str, items: tuple[Literal, ...] | None = None) -> None:
        self.text = text
        self.items = parse(text) if items is None else items
        self.used: set[int] = set()
        self.mentioned: list[tuple[int, int]] = []

    def _take(self, kinds: Sequence[str | None], fits: Callable[[Any], bool]) -> Any:
        # Earlier kinds win; within a kind the first unused literal that fits.
        for kind in kinds:
            for i, lit in enumerate(self.items):
                if lit.kind == kind and i not in self.used and fits(lit.value):
                    self.used.add(i)
                    return lit.value
        return None

    def take_number(self, fits: Callable[[int | float], bool]) -> int | float | None:
        """The next number that `fits`, or None."""
        return self._take(("number",), fits)

    def take_string(self, fits: Callable[[str], bool], kind: str | None = None) -> str | None:
        """The next quoted string that `fits`; unquoted values of format `kind` come first."""
        kinds = (kind, "quoted") if kind else ("quoted",)
        return self._take(kinds, fits)

    def take_boolean(self) -> bool | None:
        """The next `true`/`false` word, or None."""
        return self._take(("boolean",), lambda _: True)

    def _mention(self, options: Sequence[str]) -> tuple[int, int, str] | None:
        best: tuple[int, int, str] | None = None
        for option in options:
            for match in _mention_pattern(option).finditer(self.text):
                start, end = match.span()
                if not any(s < end and start < e for s, e in self.mentioned):
                    if best is None or start < best[0]:
                        best = (start, end, option)
                    break
        return best

    def first_mention(self, options: Sequence[str]) -> int | None:
        """Where the text first names one of `options` (not yet taken), without taking it."""
        best = self._mention(options)
        return None if best is None else best[0]

    def take_mention(self, options: Sequence[str]) -> str | None:
        """The option the text names first (case-insensitive, whole words) and not yet taken."""
        best = self._mention(options)
        if best is None:
            return None
        start, end, option = best
        self.mentioned.append((start, end))
        for i, lit in enumerate(self.items):
            inside = lit.start <= start and end <= lit.end
            if inside and lit.kind == "quoted" and str(lit.value).casefold() == option.casefold():
                self.used.add(i)
        return option
