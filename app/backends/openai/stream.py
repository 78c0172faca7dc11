"""Relay of an upstream OpenAI stream: event by event, `model` rewritten, `[DONE]` kept."""

from __future__ import annotations

import codecs
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from app.backends.openai.rewrite import ModelRewriter
from app.backends.openai.usage import UsageCounter, json_object, report_usage
from app.backends.sse import RawSSEDecoder, RawSSEEvent
from app.backends.upstream_deadline import first_event_reads
from app.errors import APIError, UpstreamError

DONE = b"data: [DONE]\n\n"
# An event whose first key is `error`: an error even when the rest is not valid JSON.
_ERROR = re.compile(rb'\s*\{\s*"error"\s*:')
# Some upstreams send `"error": null` in every chunk: told apart without parsing the event.
_NO_ERROR = re.compile(rb'"error"\s*:\s*(?:null|false)\s*[,}]')
# The most of a body without events that is kept in case it is one JSON document (an error
# object, or a whole answer) sent as an event stream: far more than an error takes.
BODY_BYTES = 1024 * 1024


def relay(
    name: str,
    chunks: Iterable[bytes],
    rewrite: ModelRewriter,
    on_error: Callable[[bytes], APIError],
    *,
    counter: UsageCounter | None = None,
    deadline: float | None = None,
    finish: Callable[[Iterator[bytes]], None] | None = None,
    on_usage: Callable[[dict[str, Any]], None] | None = None,
    wait: Callable[[float | None], bool] | None = None,
    on_complete: Callable[[], None] | None = None,
    whole: Callable[[bytes], Iterable[bytes | dict[str, Any]]] | None = None,
    choices: int = 1,
) -> Iterator[bytes | dict[str, Any]]:
    """Yield the complete upstream events of each read as SSE bytes, ending with `[DONE]`.

    A stream whose body ends without `[DONE]` after a finished answer (`answered` by its last
    event with data, for an answer of `choices` choices) is ended as if `[DONE]` had come; one
    that ends before (cut mid-event or not) raises an UpstreamError; an
    error event from the upstream (a top-level `error` that is set, or `"object": "error"`)
    raises the error it describes, an event that is not a JSON object an UpstreamError
    (invalid UTF-8 is replaced instead). Without a first event by `deadline` (a
    `time.monotonic()` value) an UpstreamTimeoutError is raised; `wait` (see
    `UpstreamHTTP.wait_until`) bounds each read until then, so that a silent upstream cannot
    make a read outlast it (`upstream_deadline.first_event_reads`). After
    `[DONE]`, `finish` gets what is left of the reads (normally just the end of the body), to
    read it at once or drop the connection (`UpstreamHTTP.finish`); without one it is left
    unread.
    `on_usage` gets the usage of each event with a top-level `usage` object, and that of
    the chunk `counter` adds, before `[DONE]` is yielded; `on_complete` is called just before
    `[DONE]` is.
    A body that ends without any event but looks like one JSON object (what some servers send
    as `text/event-stream` instead of an error status, or instead of the stream) goes to
    `whole`, whose events (the stream replayed from a whole answer, or an error raised for an
    error object) are yielded instead; without `whole` it is a stream cut short.
    `[DONE]` padded with blanks ends the stream as well; an event without data is dropped.
    """
    decoder = RawSSEDecoder(error_field=True)
    reads: Iterator[bytes] = iter(chunks)
    rest = reads  # what `finish` reads past `[DONE]`, with its own wait (no deadline's)
    live = [False]  # True once an event came: a live stream may take its time
    if deadline is not None:
        reads = first_event_reads(name, reads, deadline, wait, lambda: live[0])
    last = b""  # the data of the last event relayed
    # The reads before the first event, while they may be one JSON body instead of events.
    head = _Head() if whole is not None else None
    # One flat loop, run for every event of every stream; None marks the end of the body.
    for chunk in itertools.chain(reads, (None,)):
        events = decoder.flush() if chunk is None else decoder.feed(chunk)
        if events:
            if not live[0]:
                head = None
                first = _first_data(events)
                if first is not None:
                    live[0] = True
                    rewrite = rewrite.for_stream(first)
            out, end, done, relayed = _encode(name, events, rewrite, on_error, counter, on_usage)
            if relayed:
                # Not set by a read of events without data only (a ping, `data:`): they end no
                # answer, whichever read they came in.
                last = relayed
            if done and on_complete is not None:
                on_complete()
            if out:
                yield out
            if end is not None:
                raise end
            if done:
                (finish or _leave)(rest)
                return
        elif head is not None and chunk is not None and not head.keep(chunk):
            head = None
    body = head.body() if head is not None else None
    if body is not None and whole is not None:
        # Made whole before anything is yielded: an error is still an ordinary error response.
        answer = whole(body)
        if on_complete is not None:
            on_complete()
        yield from answer
        return
    # A counter takes usage off a chunk with choices before it is relayed: it says if one had.
    split = counter is not None and counter.split is not None
    if last and not decoder.truncated and answered(last, choices, split):
        # Some servers end a finished answer without `[DONE]`; OpenAI's clients expect it, and
        # the usage chunk the client asked for comes before it.
        out = _done([], rewrite, counter, on_usage)
        if on_complete is not None:
            on_complete()
        yield out
        return
    raise UpstreamError(
        f"Upstream `{name}` ended the stream before it was complete.",
        code="upstream_stream_incomplete",
        retryable=True,
    )


def _encode(
    name: str,
    events: list[RawSSEEvent],
    rewrite: ModelRewriter,
    on_error: Callable[[bytes], APIError],
    counter: UsageCounter | None,
    on_usage: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[bytes, APIError | None, bool, bytes]:
    """The SSE bytes of `events` up to `[DONE]` included, the error that ends them if any,
    whether `[DONE]` was among them, and the data of the last event relayed (b"" if none)."""
    out: list[bytes] = []
    last = b""
    for event in events:
        data = event.data
        if data == b"[DONE]":
            return _done(out, rewrite, counter, on_usage), None, True, last
        if event.event == b"error" or ((at := data.find(b'"error"')) >= 0 and _is_error(data, at)):
            return b"".join(out), on_error(data), False, last
        try:
            data = _checked(name, data)
        except UpstreamError as exc:
            # Only events that are no JSON object get here, so ordinary ones pay nothing.
            marker = data.strip()
            if marker == b"[DONE]":  # some servers pad it with spaces or a tab
                return _done(out, rewrite, counter, on_usage), None, True, last
            if not marker:
                # `data:` without a value: nothing to relay, and no client could parse it.
                continue
            return b"".join(out), exc, False, last
        if counter is not None:
            data = counter.add(data, on_usage)
        elif on_usage is not None and (at := data.find(b'"usage"')) >= 0:
            report_usage(data, at, on_usage)
        rewritten = rewrite.event(data)
        if rewritten is None:
            # It looked like an object (`_checked` parses only what does not) but is no JSON.
            return b"".join(out), _not_an_object(name), False, last
        last = data = rewritten
        if data.find(b"\n") >= 0:
            # An event sent as several `data:` lines, joined by the decoder: each line needs
            # its prefix again, and the client joins them back the same way.
            data = data.replace(b"\n", b"\ndata: ")
        out += (b"data: ", data, b"\n\n")
    return b"".join(out), None, False, last


def _done(
    out: list[bytes],
    rewrite: ModelRewriter,
    counter: UsageCounter | None,
    on_usage: Callable[[dict[str, Any]], None] | None,
) -> bytes:
    """`out`, then the usage chunk the gateway owes the client (if any), then `[DONE]`."""
    usage = counter.usage_chunk(rewrite.model) if counter is not None else None
    if usage is not None:
        # An upstream's own usage (split off its chunk) was reported as it came.
        if on_usage is not None and not counter.upstream_sent:
            on_usage(usage["usage"])
        out.append(b"data: " + json.dumps(usage, separators=(",", ":")).encode())
        out.append(b"\n\n")
    out.append(DONE)
    return b"".join(out)


def _first_data(events: list[RawSSEEvent]) -> bytes | None:
    """The data of the first event that has any (events without data are dropped)."""
    return next((event.data for event in events if event.data.strip()), None)


class _Head:
    """The reads of a body before its first event, kept while they may be one JSON object of
    at most `BODY_BYTES` (an event stream starts with a field name or a comment, never `{`)."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def keep(self, chunk: bytes) -> bool:
        """Keep one read; False once the body cannot be such an object."""
        self.size += len(chunk)
        if self.size > BODY_BYTES:
            return False
        if not self.parts:
            chunk = chunk.removeprefix(codecs.BOM_UTF8).lstrip()
            if not chunk:
                return True
            if chunk[:1] != b"{":
                return False
        self.parts.append(chunk)
        return True

    def body(self) -> bytes | None:
        """What was kept, or None when nothing was."""
        return b"".join(self.parts) if self.parts else None


def _is_error(data: bytes, at: int) -> bool:
    """True when an event with `"error"` at `at` is an error event.

    That is a top-level `error` that is set, wherever it is (OpenAI's `{"error": {...}}`, or
    OpenRouter's chunk with an `error` object and `finish_reason: "error"`), or vLLM's
    `"object": "error"`. The non-stream path reads `error` the same way, so `""`, `{}` or `0`
    are no errors. An event that is not JSON is one when it starts with an `error` key.
    """
    if _NO_ERROR.match(data, at) and data.find(b'"error"', at + 7) < 0:
        return False
    try:
        try:
            event = json.loads(data)
        except UnicodeDecodeError:
            # Bad bytes in the message must not hide the error (they are replaced on relay).
            event = json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        # Garbled, but it says error: its text is passed on as the message.
        return _ERROR.match(data) is not None
    return isinstance(event, dict) and (bool(event.get("error")) or event.get("object") == "error")


def answered(data: bytes, choices: int = 1, usage_split: bool = False) -> bool:
    """True when an event's data is the end of an answer of `choices` choices: a usage chunk
    (`"choices": []` and a `usage` object), or a chunk whose choice has a `finish_reason` —
    for several choices only when it also carries the usage (`usage_split`: the usage was
    taken off it before it was relayed)."""
    event = json_object(data)
    if event is None or not isinstance(listed := event.get("choices"), list):
        return False
    if not listed:
        return isinstance(event.get("usage"), dict)
    finished = any(isinstance(choice, dict) and choice.get("finish_reason") for choice in listed)
    if choices == 1:
        return finished
    # One choice finished says nothing of the others, and telling which ones finished would
    # take parsing every chunk: only usage, which servers send once all have ended (on a chunk
    # of its own, or on the last finish chunk), says they ended.
    return finished and (usage_split or isinstance(event.get("usage"), dict))


def _leave(reads: Iterator[bytes]) -> None:
    """What follows `[DONE]` stays unread when `relay` was given no `finish`."""


def _checked(name: str, data: bytes) -> bytes:
    """An event's data as one JSON object in valid UTF-8, or an UpstreamError."""
    if not data.isascii():
        try:
            data.decode()
        except UnicodeDecodeError:
            # Bad bytes in one token must not break the client's decoder or end the answer.
            data = data.decode("utf-8", "replace").encode()
    # A full parse costs more than the relay itself: only events that do not look like an
    # object are parsed, to tell unusual spacing from garbage.
    if data[:1] == b"{" and data[-1:] == b"}":
        return data
    try:
        if isinstance(json.loads(data), dict):
            return data
    except (ValueError, RecursionError):
        pass
    raise _not_an_object(name)


def _not_an_object(name: str) -> UpstreamError:
    return UpstreamError(
        f"Upstream `{name}` sent a stream event that is not a JSON object.",
        code="upstream_bad_response",
        retryable=True,
    )
