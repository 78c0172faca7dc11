"""Incremental server-sent-events decoder for upstream streams (any chunking, any line ending)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: its `event` name ("message" by default) and joined `data` lines."""

    data: str
    event: str = "message"
    id: str | None = None


class RawSSEEvent(NamedTuple):
    """One dispatched event as bytes: `data` lines joined by LF, `event` empty when unnamed."""

    data: bytes
    event: bytes = b""
    id: bytes | None = None


class RawSSEDecoder:
    """Feed raw bytes as they arrive; get back every event completed so far, as bytes.

    Lines are split on the bytes LF, CRLF or CR. These never occur inside a multi-byte UTF-8
    character, so an event is always whole however the reads were cut; a line split across
    reads waits for its end. A CR ends its line at once, even as the last byte of a read.
    With `error_field`, an `error:` line (no SSE field, which the spec ignores) counts as the
    data of an `error` event.
    """

    def __init__(self, error_field: bool = False) -> None:
        # Older llama.cpp servers send a failure as `error: {...}`: ignored, it would vanish.
        self._error_field = error_field
        # The start of a line whose end has not arrived, in the pieces it came in: joined once
        # when the line ends, since joining on every read costs time quadratic in its length.
        self._parts: list[bytes] = []
        # The last read ended with a CR: an LF that starts the next one completes that CRLF.
        self._cr = False
        self._data: list[bytes] = []
        self._event = b""
        self._id: bytes | None = None
        self._started = False
        # Set by flush() when the stream ended in the middle of a line.
        self.truncated = False

    @property
    def pending(self) -> bool:
        """True while an event has data lines but no blank line has ended it yet."""
        return bool(self._data)

    def feed(self, chunk: bytes) -> list[RawSSEEvent]:
        """Add bytes; return the events they complete."""
        if (
            self._started
            and not self._parts
            and not self._cr
            and not self._data
            and not self._event
            and chunk[:6] == b"data: "
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk[-1] == 0x0A
            and b"\r" not in chunk
        ):
            # What upstreams send nearly always: exactly one `data:` line and its blank line.
            return [RawSSEEvent(chunk[6:-2], b"", self._id)]
        if self._cr and chunk:
            self._cr = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
        if not self._started:
            if self._parts:  # the start of a byte order mark
                chunk = self._parts.pop() + chunk
            if len(chunk) < len(_BOM) and _BOM.startswith(chunk):
                if chunk:
                    self._parts.append(chunk)
                return []
            self._started = True
            chunk = chunk.removeprefix(_BOM)
        events: list[RawSSEEvent] = []
        start, size = 0, len(chunk)
        # Each searched once per read: a search from every line start would rescan the rest.
        lf, cr = chunk.find(b"\n"), chunk.find(b"\r")
        while True:
            if 0 <= lf < start:
                lf = chunk.find(b"\n", start)
            if 0 <= cr < start:
                cr = chunk.find(b"\r", start)
            if cr == -1 or 0 <= lf < cr:
                if lf == -1:
                    break
                end, after = lf, lf + 1
            elif cr + 1 < size:
                end, after = cr, cr + 2 if chunk[cr + 1] == 0x0A else cr + 1
            else:
                end, after, self._cr = cr, size, True
            line = chunk[start:end]
            if self._parts:
                self._parts.append(line)
                line = b"".join(self._parts)
                self._parts = []
            event = self._line(line)
            if event is not None:
                events.append(event)
            start = after
        if start < size:
            self._parts.append(chunk[start:] if start else chunk)
        return events

    def flush(self) -> list[RawSSEEvent]:
        """End of stream: dispatch data whose lines all ended; drop a line cut in the middle."""
        rest = b"".join(self._parts)
        self._parts, self._cr = [], False
        # What is left is a line cut mid-way: it is dropped, never passed on half-read.
        self.truncated = bool(rest)
        event = self._line(b"") if self._data else None
        return [] if event is None else [event]

    def _line(self, line: bytes) -> RawSSEEvent | None:
        if not line:
            if not self._data:
                self._event = b""
                return None
            event = RawSSEEvent(b"\n".join(self._data), self._event, self._id)
            self._data, self._event = [], b""
            return event
        if line[0] == 0x3A:  # ":" starts a comment / keep-alive
            return None
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value
        elif name == b"id":
            self._id = value
        elif name == b"error" and self._error_field:
            self._data.append(value)
            self._event = b"error"
        return None


class SSEDecoder:
    """Feed raw bytes as they arrive; get back every event completed so far, as text.

    A multi-byte character split across reads is kept whole (see `RawSSEDecoder`); invalid
    UTF-8 is replaced, never fatal.
    """

    def __init__(self) -> None:
        self._raw = RawSSEDecoder()

    @property
    def truncated(self) -> bool:
        """True when flush() found the stream ended in the middle of a line."""
        return self._raw.truncated

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Add bytes; return the events they complete."""
        return [_text(event) for event in self._raw.feed(chunk)]

    def flush(self) -> list[SSEEvent]:
        """End of stream: dispatch data whose lines all ended; drop a line cut in the middle."""
        return [_text(event) for event in self._raw.flush()]


def _text(event: RawSSEEvent) -> SSEEvent:
    return SSEEvent(
        event.data.decode("utf-8", "replace"),
        event.event.decode("utf-8", "replace") or "message",
        None if event.id is None else event.id.decode("utf-8", "replace"),
    )


def iter_sse(chunks: Iterable[bytes]) -> Iterator[SSEEvent]:
    """Events from an iterable of raw byte chunks, yielded as soon as each is complete."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.flush()
