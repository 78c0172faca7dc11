"""Scalar values for JSON Schema: checks that a literal fits, and plausible seeded values."""

from __future__ import annotations

import ipaddress
import math
import random
import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from app.backends.mock import patterns
from app.backends.mock.text import words

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DURATION = re.compile(
    r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"
)
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*$"
)
_NAME_PARTS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_EPOCH = date(2024, 1, 1)
# Lengths and counts beyond this are treated as this (a schema cannot make the mock hang).
_MAX_COUNT = 10_000
# Longer minimum lengths are padded with `x` rather than words.
_WORDY_LENGTH = 400
# Bounds this large are ignored: they cannot be handled as floats.
_HUGE = 1e300


def _parses(parse: Callable[[str], Any], value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


_FORMAT_CHECKS: dict[str, Callable[[str], bool]] = {
    "email": lambda v: bool(_EMAIL.match(v)),
    "idn-email": lambda v: bool(_EMAIL.match(v)),
    "uri": lambda v: bool(_URI.match(v)),
    "url": lambda v: bool(_URI.match(v)),
    "iri": lambda v: bool(_URI.match(v)),
    "uuid": lambda v: bool(_UUID.match(v)),
    "date": lambda v: bool(_DATE.match(v)) and _parses(date.fromisoformat, v),
    "date-time": lambda v: (
        bool(_DATETIME.match(v))
        and _parses(datetime.fromisoformat, v.upper().replace("Z", "+00:00"))
    ),
    "time": lambda v: bool(_TIME.match(v)),
    "duration": lambda v: bool(_DURATION.match(v)),
    "hostname": lambda v: bool(_HOSTNAME.match(v)),
    "ipv4": lambda v: _parses(ipaddress.IPv4Address, v),
    "ipv6": lambda v: _parses(ipaddress.IPv6Address, v),
}


def _format_value(fmt: str, rng: random.Random) -> str | None:
    day = _EPOCH + timedelta(days=rng.randrange(730))
    clock = f"{rng.randrange(8, 20):02d}:{rng.choice((0, 15, 30, 45)):02d}:00"
    word = rng.choice(("alice", "bob", "carol", "dave", "erin"))
    values = {
        "date": day.isoformat(),
        "date-time": f"{day.isoformat()}T{clock}Z",
        "time": f"{clock}Z",
        "email": f"{word}@example.com",
        "idn-email": f"{word}@example.com",
        "uri": f"https://example.com/{word}",
        "url": f"https://example.com/{word}",
        "iri": f"https://example.com/{word}",
        "uri-reference": f"/{word}",
        "iri-reference": f"/{word}",
        "uri-template": "https://example.com/{id}",
        "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "hostname": f"{word}.example.com",
        "idn-hostname": f"{word}.example.com",
        "ipv4": f"192.0.2.{rng.randint(1, 254)}",
        "ipv6": f"2001:db8::{rng.randint(1, 0xFFFF):x}",
        "duration": f"P{rng.randint(1, 30)}D",
        "json-pointer": f"/{word}",
        "regex": "^.*$",
    }
    return values.get(fmt)


def name_format(name: str) -> str | None:
    """The string format a property name suggests (`email`, `website_url`, `created_at`...)."""
    parts = [part.lower() for part in _NAME_PARTS.findall(name)]
    hints = (
        ("email", {"email", "mail"}),
        ("uri", {"url", "uri", "link", "website", "href", "homepage"}),
        ("uuid", {"uuid", "guid"}),
        ("date-time", {"datetime", "timestamp"}),
        ("date", {"date", "birthday", "deadline", "dob"}),
    )
    for fmt, names in hints:
        if names.intersection(parts):
            return fmt
    return "date-time" if len(parts) > 1 and parts[-1] == "at" else None


def count(schema: dict[str, Any], key: str) -> int | None:
    """A non-negative count keyword (`minLength`, `maxItems`...), capped; None when absent."""
    value = schema.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return int(min(max(value, 0), _MAX_COUNT))


def string_fits(schema: dict[str, Any], value: str) -> bool:
    """True when `value` meets the schema's length, pattern and (known) format."""
    low, high = count(schema, "minLength"), count(schema, "maxLength")
    if (low is not None and len(value) < low) or (high is not None and len(value) > high):
        return False
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not patterns.matches(pattern, value):
        return False
    check = _FORMAT_CHECKS.get(schema.get("format") or "")
    return check is None or check(value)


def _fit_length(text: str, schema: dict[str, Any], rng: random.Random) -> str:
    low, high = count(schema, "minLength") or 0, count(schema, "maxLength")
    while len(text) < min(low, _WORDY_LENGTH):
        text = f"{text} {words(rng, 1, 3)}".strip()
    if high is not None and len(text) > high:
        text = text[:high].rstrip() or text[:high]
    return text + "x" * max(0, low - len(text))


def plausible_string(schema: dict[str, Any], name: str, rng: random.Random) -> str:
    """A seeded string for the schema: by format, pattern or name, else a few words."""
    fmt = schema.get("format")
    value = _format_value(fmt, rng) if isinstance(fmt, str) else None
    if value is None and isinstance(schema.get("pattern"), str):
        value = patterns.sample(schema["pattern"], rng)
    if value is not None and string_fits(schema, value):
        return value
    hinted = name_format(name)
    value = _format_value(hinted, rng) if hinted else None
    if value is None or not string_fits(schema, value):
        value = _fit_length(words(rng, 2, 5), schema, rng)
    return value


def _bound(schema: dict[str, Any], key: str, exclusive: str) -> tuple[float | None, bool]:
    """The tighter of `minimum`/`exclusiveMinimum` (or the maximums) and whether it is exclusive."""
    value, excl = _numeric(schema.get(key)), schema.get(exclusive)
    if isinstance(excl, bool):  # draft-04 form: a flag on minimum/maximum
        return value, excl and value is not None
    excl = _numeric(excl)
    lower = key == "minimum"
    if excl is not None and (value is None or (excl >= value if lower else excl <= value)):
        return excl, True
    return value, False


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if abs(value) < _HUGE else None  # NaN fails this test too


def _multiple_ok(value: float, step: float) -> bool:
    # The same test JSON Schema validators use: the quotient must be a whole number.
    if isinstance(step, float) or isinstance(value, float):
        try:
            quotient = value / step
            return math.isfinite(quotient) and int(quotient) == quotient
        except OverflowError:
            return False
    return value % step == 0


def number_fits(schema: dict[str, Any], value: int | float, integer: bool) -> bool:
    """True when `value` meets the schema's type (integer or number), bounds and multipleOf."""
    if _numeric(value) is None:
        return False
    if integer and not (isinstance(value, int) or float(value).is_integer()):
        return False
    low, low_excl = _bound(schema, "minimum", "exclusiveMinimum")
    high, high_excl = _bound(schema, "maximum", "exclusiveMaximum")
    if low is not None and (value < low or (low_excl and value == low)):
        return False
    if high is not None and (value > high or (high_excl and value == high)):
        return False
    step = _numeric(schema.get("multipleOf"))
    return step is None or step <= 0 or _multiple_ok(value, step)


def plausible_number(schema: dict[str, Any], integer: bool, rng: random.Random) -> int | float:
    """A seeded number inside the schema's bounds (1–100 when it has none)."""
    low, _ = _bound(schema, "minimum", "exclusiveMinimum")
    high, _ = _bound(schema, "maximum", "exclusiveMaximum")
    low = float(low) if low is not None else (float(high) - 100 if high is not None else 1.0)
    high = float(high) if high is not None else low + 100
    step = _numeric(schema.get("multipleOf"))
    if step is not None and step > 0:
        first, last = math.ceil(low / step), math.floor(high / step)
        candidates = [round(k * step, 12) for k in range(first, min(last, first + 50) + 1)]
        rng.shuffle(candidates)
    elif integer:
        first, last = math.ceil(low), math.floor(high)
        candidates = [rng.randint(first, last)] if first <= last else []
        candidates += list(range(first, min(last, first + 3) + 1))
    else:
        candidates = [round(rng.uniform(low, high), 2), (low + high) / 2, low, high]
    for candidate in candidates:
        value = int(candidate) if integer or float(candidate).is_integer() else candidate
        if number_fits(schema, value, integer):
            return value
    return int(low) if integer else low
