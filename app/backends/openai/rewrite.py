"""Rewriting upstream chat and completion events for the client: `model` spliced in, and what
some servers get wrong about the spec (fractional `created` times, choices without `delta`)."""

from __future__ import annotations

import json
import re

from app.backends.openai.usage import compact, json_object, whole_seconds

# `"model": "<string>"`, matched where a `"model"` starts (an unrolled loop: far faster than an
# alternation on every event).
_MODEL = re.compile(rb'"model"\s*:\s*"[^"\\]*(?:\\.[^"\\]*)*"')
# `"created": 1700000000.5`: a time written with a fraction (or an exponent), not the integer
# the spec wants.
_FRACTIONAL_TIME = re.compile(rb'"created"\s*:\s*-?[0-9]+[.eE]')


class ModelRewriter:
    """Sets `model` in raw JSON events by splicing bytes, instead of re-encoding each event.

    With `chat`, the events are chat completion chunks, each of whose choices must hold a
    `delta` (`with_deltas`).
    """

    def __init__(self, model: str, chat: bool = False) -> None:
        self.model = model
        self.chat = chat
        self.replacement = b'"model":' + json.dumps(model).encode()

    def __call__(self, data: bytes) -> bytes:
        """`data` with its top-level `model` set to the client's id (added when missing); data
        that is no JSON object as it came."""
        return self.event(data) or data

    def event(self, data: bytes) -> bytes | None:
        """`data` with its top-level `model` set, or None when it is no JSON object."""
        out = self.rewritten(data)
        # One search per chunk: only a chunk without any `delta` is parsed again.
        if self.chat and out is not None and out.find(b'"delta"') < 0:
            return with_deltas(out)
        return out

    def rewritten(self, data: bytes) -> bytes | None:
        """`data` with its top-level `model` set, or None when it is no JSON object."""
        spliced = self.splice(data)
        return spliced if spliced is not None else self.reencoded(data)

    def reencoded(self, data: bytes, whole_times: bool = False) -> bytes | None:
        """`data` parsed, its `model` set (and its `created` made whole with `whole_times`) and
        encoded anew; None when it is no JSON object."""
        event = json_object(data)
        if event is None:
            return None
        # Parsing keeps the last of repeated keys, as the client's parser would; a chunk
        # without `model` gets one, as the spec wants it in every chunk.
        event["model"] = self.model
        if whole_times and "created" in event:
            event["created"] = whole_seconds(event["created"])
        return compact(event)

    def for_stream(self, first: bytes) -> ModelRewriter:
        """The rewriter for a stream whose first event's data is `first`: this one, or a
        `WholeSecondsRewriter` when that event writes `created` with a fraction (the server
        does so in every chunk), so the check costs once per stream, not once per event."""
        if _FRACTIONAL_TIME.search(first):
            return WholeSecondsRewriter(self.model, self.chat)
        return self

    def splice(self, data: bytes) -> bytes | None:
        """`data` with its top-level `model` replaced, or None when splicing would not be exact.

        Only the ordinary case is spliced: exactly one `"model"` in `data`, a top-level key
        (a single `{` before it) holding a string, and no escaped spelling of the key. Anything
        else (a repeated, absent, null or numeric `model`, `"mod\\u0065l"`, a `"model"` inside
        a string, one after a nested object) is left to a full parse.
        """
        start = data.find(b'"model"')
        if start < 0:
            return None
        match = _MODEL.match(data, start)
        if (
            match is None
            or data.find(b'"model"', match.end()) >= 0
            or data.count(b"{", 0, start) != 1
        ):
            return None
        # Cheap for the usual event without a backslash. With one, a quote before `model`
        # can be escaped (the match is inside a string), and every letter of `model` is
        # in U+0064..U+006F, so any escaped spelling of the key holds `\u006`.
        if data.find(b"\\") >= 0 and (data[start - 1] == 0x5C or data.find(b"\\u006") >= 0):
            return None
        return data[:start] + self.replacement + data[match.end() :]


class WholeSecondsRewriter(ModelRewriter):
    """Sets `model`, and makes `created` a whole number of seconds, in the events of a stream
    whose server writes fractional times: each event is parsed and encoded anew."""

    def rewritten(self, data: bytes) -> bytes | None:
        """`data` with its top-level `model` set and `created` whole, or None when it is no
        JSON object."""
        return self.reencoded(data, whole_times=True)


def with_deltas(data: bytes) -> bytes:
    """A chat chunk whose choices all hold a `delta`, as the spec requires: some servers send
    choices without one (Azure's asynchronous content filter annotates the text already sent
    in such chunks), which breaks the SDK's stream helper and drops the chunk's finish_reason
    in LangChain. `data` as it is when nothing lacks one (e.g. a usage chunk)."""
    event = json_object(data)
    choices = event.get("choices") if event is not None else None
    if not isinstance(choices, list):
        return data
    lacking = [c for c in choices if isinstance(c, dict) and not isinstance(c.get("delta"), dict)]
    if not lacking:
        return data
    for choice in lacking:
        choice["delta"] = {}
    return compact(event)
