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
    reads waits for its end.
    """

    def __init__(self) -> None:
        self._buffer = b""
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
            and not self._buffer
            and not self._data
            and not self._event
            and chunk[:6] == b"data: "
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk[-1:] == b"\n"
            and b"\r" not in chunk
        ):
            # What upstreams send nearly always: exactly one `data:` line and its blank line.
            return [RawSSEEvent(chunk[6:-2], b"", self._id)]
        buffer = self._buffer + chunk if self._buffer else chunk
        if not self._started and buffer:
            if len(buffer) < len(_BOM) and _BOM.startswith(buffer):
                self._buffer = buffer
                return []
            self._started = True
            buffer = buffer.removeprefix(_BOM)
        events: list[RawSSEEvent] = []
        start = 0
        while True:
            cut = _line_end(buffer, start)
            if cut is None:
                break
            end, skip = cut
            event = self._line(buffer[start:end])
            if event is not None:
                events.append(event)
            start = end + skip
        self._buffer = buffer[start:]
        return events

    def flush(self) -> list[RawSSEEvent]:
        """End of stream: dispatch data whose lines all ended; drop a line cut in the middle."""
        buffer, self._buffer = self._buffer, b""
        events: list[RawSSEEvent | None] = []
        # What is left holds no line end, except perhaps a final CR that ended the last line.
        if buffer.endswith(b"\r"):
            events.append(self._line(buffer[:-1]))
            buffer = b""
        # Anything else left is a line cut mid-way: it is dropped, never passed on half-read.
        self.truncated = bool(buffer) and buffer != _BOM
        if self._data:
            events.append(self._line(b""))
        return [event for event in events if event is not None]

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


def _line_end(buffer: bytes, start: int) -> tuple[int, int] | None:
    """Position and length of the first line terminator after `start`, or None."""
    lf, cr = buffer.find(b"\n", start), buffer.find(b"\r", start)
    if cr == -1:
        return None if lf == -1 else (lf, 1)
    if lf != -1 and lf < cr:
        return lf, 1
    if cr + 1 == len(buffer):
        return None  # a CR at the end may be the first half of CRLF
    return cr, 2 if buffer[cr + 1] == 0x0A else 1


def iter_sse(chunks: Iterable[bytes]) -> Iterator[SSEEvent]:
    """Events from an iterable of raw byte chunks, yielded as soon as each is complete."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.flush()
