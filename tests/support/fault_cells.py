"""The fault matrix's cells: what the gateway must answer for each fault, mode and stream flag.

A cell is one fault × {non-stream, stream} × {first attempt, after retry, with fallback}. The
expected outcome is either a valid answer (`OK`), a well-formed OpenAI error with a given
status (`Error`), or — once the stream began — chunks, one error event and the end of the
stream (`STREAM_ERROR`).
"""

from __future__ import annotations

import re
import sys
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
    "bad_json": (Error(502, True), Error(502, True)),
    "html": (Error(502, True), Error(502, True)),
    "cut_before_headers": (Error(502, True), Error(502, True)),
    "cut_after_headers": (Error(502, True), Error(502, True)),
    "cut_mid_event": (Error(502, True), STREAM_ERROR),
    "no_done": (OK, STREAM_ERROR),
    "stall": (Error(504, True), STREAM_ERROR),
    "drip": (Error(504, True), Error(504, True)),
    "huge": (Error(502, False), Error(502, False)),
    "error_event": (Error(502, True), STREAM_ERROR),
    "refuse": (Error(502, True), Error(502, True)),
}


def base_outcome(fault: str, stream: bool) -> Outcome:
    """What a fault that happens on every attempt gives the client."""
    status = re.fullmatch(r"http_(\d{3})(_empty)?", fault)
    if status:
        upstream = int(status[1])
        if upstream >= 500:
            return Error(502, True)
        return Error(upstream, upstream in (408, 429))
    return _BASE[fault][stream]


def expected(fault: str, mode: str, stream: bool) -> Outcome:
    """The cell's outcome: a retryable failure is healed by the retry or the fallback."""
    outcome = base_outcome(fault, stream)
    if fault == "refuse" and mode == "retry":
        return outcome  # a closed port stays closed: the retries run out
    if mode != "first" and isinstance(outcome, Error) and outcome.retryable:
        return OK
    return outcome


def model_for(fault: str, mode: str) -> str:
    """The public model id of a cell (the models file routes it to the fault)."""
    if fault == "refuse":
        return f"refuse-{mode}"
    return {
        "first": f"first/{fault}",
        "retry": f"retry/{fault}~1",
        "fallback": f"fallback/{fault}",
    }[mode]


def run_cell(
    url: str, key: str, fault: str, mode: str, stream: bool, user: str, timeout: float
) -> tuple[dict, SSEResult]:
    """Send the cell's request; returns the request body and the raw answer."""
    body = {"model": model_for(fault, mode), "messages": HI, "stream": stream, "user": user}
    return body, post_sse(f"{url}/v1/chat/completions", body, key, timeout=timeout)


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
        assert not is_sse and result.headers["Content-Type"].startswith("application/json")
        check_error(result.json(), result.status)
