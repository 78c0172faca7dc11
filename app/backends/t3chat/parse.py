"""Incremental parsers for the two t3.chat stream formats: AI SDK data-stream lines and SSE.

Data stream (one part per line): `0:"text"`, `2:[...]`, `3:"error"`, `d:{"finishReason":...}`
and other single-character codes, which are ignored. SSE: `data: {"type":"text-delta",
"delta":...}`, `{"type":"finish",...}`, `{"type":"error",...}` and `data: [DONE]`.
The format is chosen from the first line of the body.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.backends.sse import SSEDecoder


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True)
class Finish:
    """The answer is complete; `reason` is an OpenAI finish_reason."""

    reason: str = "stop"


@dataclass(frozen=True)
class Failure:
    """t3.chat reported an error inside the stream."""

    message: str


Event = TextDelta | Finish | Failure


class ProtocolError(ValueError):
    """The body is not in a format this parser knows; `kind` says how it failed."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class LoginPage(ProtocolError):
    """The body is an HTML page (a login page or a challenge), not a stream."""

    def __init__(self) -> None:
        super().__init__("html")


_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "content-filter": "content_filter",
    "content_filter": "content_filter",
}
_DATA_LINE = re.compile(r"^([0-9a-z]):(.*)$", re.S)
_SSE_LINE = re.compile(r"^(data|event|id|retry)?:")


def finish_reason(value: Any) -> str:
    """An upstream finish reason as OpenAI's; anything unknown ends as `stop`."""
    return _FINISH_REASONS.get(str(value or "stop"), "stop")


def _loads(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ProtocolError("json") from exc


def data_stream_events(line: str) -> list[Event]:
    """Events for one data-stream line (`<code>:<json>`); unknown codes are ignored."""
    match = _DATA_LINE.match(line)
    if match is None:
        raise ProtocolError("line")
    code, payload = match.group(1), _loads(match.group(2))
    if code == "0":
        if not isinstance(payload, str):
            raise ProtocolError("text")
        return [TextDelta(payload)] if payload else []
    if code == "3":
        return [Failure(payload if isinstance(payload, str) else json.dumps(payload))]
    if code == "d":
        reason = payload.get("finishReason") if isinstance(payload, dict) else None
        return [Finish(finish_reason(reason))]
    return []


def _delta_text(event: dict[str, Any]) -> str:
    delta = event.get("delta")
    if isinstance(delta, dict):
        delta = delta.get("text")
    if delta is None:
        delta = event.get("text")
    if delta is None:
        return ""
    if not isinstance(delta, str):
        raise ProtocolError("text")
    return delta


def _error_text(event: dict[str, Any]) -> str:
    for key in ("errorText", "error", "message"):
        value = event.get(key)
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, str) and value:
            return value
    return "unknown error"


def sse_events(data: str) -> list[Event]:
    """Events for one SSE `data` payload; unknown event types are ignored."""
    if data.strip() == "[DONE]":
        return [Finish()]
    event = _loads(data)
    if not isinstance(event, dict):
        raise ProtocolError("event")
    kind = event.get("type")
    if kind in ("text-delta", "text"):
        text = _delta_text(event)
        return [TextDelta(text)] if text else []
    if kind == "finish":
        return [Finish(finish_reason(event.get("finishReason") or event.get("finish_reason")))]
    if kind == "error":
        return [Failure(_error_text(event))]
    return []


class _LineReader:
    """Complete lines from raw bytes; multi-byte characters and lines may span reads."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""

    def feed(self, chunk: bytes, final: bool = False) -> list[str]:
        """Add bytes; return the lines they complete, without their line ends."""
        self._buffer += self._decoder.decode(chunk, final=final)
        *lines, self._buffer = self._buffer.split("\n")
        return [line.removesuffix("\r") for line in lines]

    def rest(self) -> str:
        """Take what is left of an unterminated last line."""
        rest, self._buffer = self._buffer, ""
        return rest


class StreamParser:
    """Feed the raw body as it arrives; get back the events each read completes."""

    def __init__(self) -> None:
        self._head = b""
        self._format: str | None = None
        self._lines = _LineReader()
        self._sse = SSEDecoder()

    def feed(self, chunk: bytes) -> list[Event]:
        """Add bytes; return the events they complete."""
        if self._format is None:
            self._head += chunk
            self._format = _sniff(self._head, final=False)
            if self._format is None:
                return []
            chunk, self._head = self._head, b""
        return self._parse(chunk, final=False)

    def close(self) -> list[Event]:
        """End of body: the events still buffered; a line cut in the middle is an error."""
        if self._format is None:
            self._format = _sniff(self._head, final=True)
            chunk, self._head = self._head, b""
            if self._format is None:
                raise ProtocolError("empty")
            return self._parse(chunk, final=True)
        return self._parse(b"", final=True)

    def _parse(self, chunk: bytes, final: bool) -> list[Event]:
        if self._format == "sse":
            events = [e for event in self._sse.feed(chunk) for e in sse_events(event.data)]
            # A blank line ends whatever event is pending, so a last one without it still counts.
            tail = self._sse.feed(b"\n\n") if final else []
            return events + _last(lambda: [e for ev in tail for e in sse_events(ev.data)])
        lines = self._lines.feed(chunk, final=final)
        events = [e for line in lines if line.strip() for e in data_stream_events(line.strip())]
        rest = self._lines.rest().strip() if final else ""
        return events + (_last(lambda: data_stream_events(rest)) if rest else [])


def _last(parse: Callable[[], list[Event]]) -> list[Event]:
    """Parse what was left when the body ended; failing there means it was cut short."""
    try:
        return parse()
    except ProtocolError as exc:
        raise ProtocolError("truncated") from exc


def _sniff(head: bytes, final: bool) -> str | None:
    """`sse` or `data` from the first line; None while it is incomplete; HTML is refused."""
    text = head.lstrip()
    if text.startswith(b"<"):
        raise LoginPage()
    end = min((i for i in (text.find(b"\n"), text.find(b"\r")) if i >= 0), default=-1)
    if end < 0 and not final:
        return None
    first = (text if end < 0 else text[:end]).decode("utf-8", errors="replace")
    if not first:
        return None
    if _SSE_LINE.match(first):
        return "sse"
    if _DATA_LINE.match(first):
        return "data"
    raise ProtocolError("format")
