"""Incremental server-sent-events decoder for upstream streams (any chunking, any line ending)."""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: its `event` name ("message" by default) and joined `data` lines."""

    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Feed raw bytes as they arrive; get back every event completed so far.

    Bytes are decoded incrementally, so a multi-byte character split across reads is kept
    whole; lines may end in LF, CRLF or CR, and a line split across reads waits for its end.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        # Set by flush() when the stream ended in the middle of a line.
        self.truncated = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Add bytes; return the events they complete."""
        self._buffer += self._decoder.decode(chunk)
        return self._drain()

    def flush(self) -> list[SSEEvent]:
        """End of stream: dispatch data whose lines all ended; drop a line cut in the middle."""
        self._buffer += self._decoder.decode(b"", final=True)
        events = self._drain()
        if self._buffer.endswith("\r"):
            events.extend(self._line(self._buffer[:-1]))
        # Anything else left is a line cut mid-way: it is dropped, never passed on half-read.
        self.truncated = bool(self._buffer) and not self._buffer.endswith("\r")
        self._buffer = ""
        if self._data:
            events.extend(self._line(""))
        return events

    def _drain(self) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        while True:
            cut = _line_end(self._buffer)
            if cut is None:
                return events
            end, skip = cut
            line, self._buffer = self._buffer[:end], self._buffer[end + skip :]
            events.extend(self._line(line))

    def _line(self, line: str) -> list[SSEEvent]:
        if not line:
            if not self._data:
                self._event = ""
                return []
            event = SSEEvent("\n".join(self._data), self._event or "message", self._id)
            self._data, self._event = [], ""
            return [event]
        if line.startswith(":"):
            return []  # comment / keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return []


def _line_end(buffer: str) -> tuple[int, int] | None:
    """Position and length of the first line terminator, or None when no full line is there."""
    lf, cr = buffer.find("\n"), buffer.find("\r")
    if cr == -1 and lf == -1:
        return None
    if cr == -1 or (lf != -1 and lf < cr):
        return lf, 1
    if cr + 1 == len(buffer):
        return None  # a CR at the end may be the first half of CRLF
    return cr, 2 if buffer[cr + 1] == "\n" else 1


def iter_sse(chunks: Iterable[bytes]) -> Iterator[SSEEvent]:
    """Events from an iterable of raw byte chunks, yielded as soon as each is complete."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.flush()
