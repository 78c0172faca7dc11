"""The fault matrix's cells: what the gateway must answer for each fault, mode and stream flag.

A cell is one fault × {non-stream, stream} × {first attempt, after retry, with fallback}. The
expected outcome is either a valid answer (`OK`), a well-formed OpenAI error with a given
status (`Error`), or — once the stream began — chunks, one error event and the end of the
stream (`STREAM_ERROR`). Every cell also answers within `wall_bound` seconds.

`PROVIDER_CELLS` is the smaller matrix of the Gemini and Anthropic backends (first attempt
only): their expected statuses are written out per provider, as their backends map them.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.faulty_bodies import TEXT
from tests.support.openai_checks import (
    check_chat_completion,
    check_chat_sse,
    check_error,
    check_error_sse,
)
from tests.support.servers import ServerProcess, free_port
from tests.support.sse import SSEResult, post_sse

MODES = ("first", "retry", "fallback")


def start_faulty_upstream(tmp_path: Path) -> ServerProcess:
    """The faulty upstream (tests/fakes/faulty_upstream.py) on a free port, ready."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.fakes.faulty_upstream", "--port", str(port)]
    return ServerProcess(argv, port, {}, tmp_path / "faulty.log").wait_ready("/health")


HI = [{"role": "user", "content": "Say hi"}]


@dataclass(frozen=True)
class Error:
    """A JSON error answer with this status; `retryable` when a retry or fallback may help."""

    status: int
    retryable: bool


OK = "ok"
STREAM_ERROR = "stream_error"
Outcome = str | Error

_BASE: dict[str, tuple[Outcome, Outcome]] = {
    # fault: (non-stream, stream)
    "ok": (OK, OK),
    "slow": (OK, OK),
    "bad_utf8": (OK, OK),
    "hang": (Error(504, True), Error(504, True)),
    "bad_json": (Error(502, False), Error(502, True)),
    "html": (Error(502, False), Error(502, True)),
    "cut_before_headers": (Error(502, True), Error(502, True)),
    "cut_after_headers": (Error(502, True), Error(502, True)),
    "cut_mid_event": (Error(502, True), STREAM_ERROR),
    # A finished stream (its finish chunk came) ended without `[DONE]`: the gateway adds it.
    "no_done": (OK, OK),
    # One that ended before its finish chunk is cut short, and JSON cut short is no answer.
    "no_done_unfinished": (Error(502, False), STREAM_ERROR),
    "stall": (Error(504, True), STREAM_ERROR),
    "silent": (Error(504, True), Error(504, True)),
    "drip": (Error(504, True), Error(504, True)),
    "huge": (Error(502, False), Error(502, False)),
    "error_event": (Error(502, True), STREAM_ERROR),
    "refuse": (Error(502, True), Error(502, True)),
}


def base_outcome(fault: str, stream: bool) -> Outcome:
    """What a fault that happens on every attempt gives the client.

    An error status keeps its mapping whatever its body: an OpenAI error, none, an HTML proxy
    page or plain text (4xx kept, 5xx → 502); the client always gets the JSON envelope.
    """
    status = re.fullmatch(r"http_(\d{3})(?:_(?:empty|html|text))?", fault)
    if status:
        upstream = int(status[1])
        if upstream >= 500:
            return Error(502, True)
        return Error(upstream, upstream == 429)
    return _BASE[fault][stream]


def expected(fault: str, mode: str, stream: bool) -> Outcome:
    """The cell's outcome: a retryable failure is healed by the retry or the fallback."""
    outcome = base_outcome(fault, stream)
    if fault == "refuse" and mode == "retry":
        return outcome  # a closed port stays closed: the retries run out
    if mode != "first" and isinstance(outcome, Error) and outcome.retryable:
        return OK
    return outcome


# provider: {fault: (non-stream, stream)} on the first attempt. Gemini maps the google.rpc
# status of a JSON error (RESOURCE_EXHAUSTED → 429, INTERNAL → 502, UNAVAILABLE → 503,
# DEADLINE_EXCEEDED → 504) and the HTTP status otherwise; Anthropic maps the error type
# (rate_limit_error → 429, api_error → 502, timeout_error → 504, overloaded_error → 503) and
# its own 529 → 503 even without a body.
_E429, _E502, _E503, _E504 = Error(429, True), Error(502, True), Error(503, True), Error(504, True)
_TRANSPORT: dict[str, tuple[Outcome, Outcome]] = {
    "ok": (OK, OK),
    "refuse": (_E502, _E502),
    "hang": (_E504, _E504),
    "cut_before_headers": (_E502, _E502),
    "cut_after_headers": (_E502, _E502),
    "cut_mid_event": (_E502, STREAM_ERROR),
    "stall": (_E504, STREAM_ERROR),
    "bad_json": (Error(502, False), Error(502, False)),
    "huge": (Error(502, False), Error(502, False)),
}
PROVIDER_CELLS: dict[str, dict[str, tuple[Outcome, Outcome]]] = {
    "gemini": {
        **_TRANSPORT,
        "http_429": (_E429, _E429),
        "http_500": (_E502, _E502),
        "http_502": (_E502, _E502),
        "http_503": (_E503, _E503),
        "http_504": (_E504, _E504),
        "http_503_empty": (_E502, _E502),
        "http_502_html": (_E502, _E502),
        "http_429_text": (_E429, _E429),
    },
    "anthropic": {
        **_TRANSPORT,
        # The role chunk waits for the first content: a stream that stalls or is cut right
        # after `message_start` has sent the client nothing yet, so it fails as a whole.
        "stall": (_E504, _E504),
        "cut_mid_event": (_E502, _E502),
        "http_429": (_E429, _E429),
        "http_500": (_E502, _E502),
        "http_502": (_E502, _E502),
        "http_503": (_E502, _E502),
        "http_504": (_E504, _E504),
        "http_529": (_E503, _E503),
        "http_503_empty": (_E502, _E502),
        "http_502_html": (_E502, _E502),
        "http_529_html": (_E503, _E503),
        "http_429_text": (_E429, _E429),
    },
}


def wall_bound(timeouts: dict[str, float], attempts: int, backoff: float) -> float:
    """Seconds a cell may take at most: every attempt's connect, total and read timeouts, the
    backoff between attempts, and a generous margin. It catches a hang, it times nothing."""
    per_attempt = timeouts["connect_timeout"] + timeouts["total_timeout"]
    per_attempt += timeouts["read_timeout"]
    return attempts * per_attempt + (attempts - 1) * backoff + 10.0


def model_for(fault: str, mode: str, provider: str = "openai") -> str:
    """The public model id of a cell (the models file routes it to the fault)."""
    if provider != "openai":
        return f"{provider}-refuse" if fault == "refuse" else f"{provider}/{fault}"
    if fault == "refuse":
        return f"refuse-{mode}"
    return {
        "first": f"first/{fault}",
        "retry": f"retry/{fault}~1",
        "fallback": f"fallback/{fault}",
    }[mode]


def run_cell(
    url: str,
    key: str,
    fault: str,
    mode: str,
    stream: bool,
    user: str,
    timeout: float,
    provider: str = "openai",
) -> tuple[dict, SSEResult, float]:
    """Send the cell's request; returns the request body, the raw answer (a stream read to
    its end) and the seconds the whole call took."""
    model = model_for(fault, mode, provider)
    body = {"model": model, "messages": HI, "stream": stream, "user": user}
    started = time.monotonic()
    result = post_sse(f"{url}/v1/chat/completions", body, key, timeout=timeout)
    return body, result, time.monotonic() - started


def check_wall_time(elapsed: float, bound: float) -> None:
    """The whole call, stream included, ended within the bound."""
    assert elapsed <= bound, f"the answer took {elapsed:.1f} s, more than {bound:.1f} s"


def check_cell(outcome: Outcome, request: dict, result: SSEResult) -> None:
    """The answer is the expected valid response, error, or error event; nothing else."""
    is_sse = result.headers.get("Content-Type", "").startswith("text/event-stream")
    if outcome == OK:
        assert result.status == 200, f"status {result.status}: {result.body[:300]!r}"
        if request["stream"]:
            assert is_sse
            text = check_chat_sse(result.data, request)["choices"][0]["message"]["content"]
        else:
            text = check_chat_completion(result.json(), request).choices[0].message.content
        assert text in (TEXT, "caf\ufffd \ufffd\ufffd ok"), f"unexpected answer {text!r}"
    elif outcome == STREAM_ERROR:
        assert result.status == 200 and is_sse, f"status {result.status}: {result.body[:300]!r}"
        check_error_sse(result.data)
    else:
        assert result.status == outcome.status, (
            f"status {result.status}, expected {outcome.status}: {result.body[:300]!r}"
        )
        content_type = result.headers.get("Content-Type", "")
        assert not is_sse and content_type.startswith("application/json"), (
            f"an error as {content_type!r}, not the JSON envelope: {result.body[:300]!r}"
        )
        try:
            envelope = result.json()
        except ValueError as exc:
            raise AssertionError(f"an error body that is not JSON: {result.body[:300]!r}") from exc
        error = check_error(envelope, result.status)
        assert "<html" not in error.message.lower(), f"an HTML page passed on: {error.message!r}"
