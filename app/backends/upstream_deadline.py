"""The total deadline of an upstream answer: every wait on the upstream until then ends by it.

`total_timeout` counts from when the request started. `read_timeout` alone (the socket's
timeout) would let an upstream that is slow to send its headers, or that stalls mid-body or
before a stream's first event, wait it out; so until the deadline each read waits no longer
than the time left. A read that times out while so shortened means the deadline has passed.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import requests

from app.errors import UpstreamTimeoutError, drop_tracebacks

log = logging.getLogger(__name__)

# Shortest wait set on a socket: a timeout of 0 would make it non-blocking (no timeout error).
MIN_WAIT = 0.001


def due(response: requests.Response, total: float) -> float:
    """When `response`'s answer is due (a monotonic time): `total` seconds after its request
    was sent (`elapsed` is the wait for the headers)."""
    return time.monotonic() - response.elapsed.total_seconds() + total


def wait_until(response: requests.Response, deadline: float | None, read_timeout: float) -> bool:
    """Make the next read of `response` wait until `deadline` at the latest (with None:
    `read_timeout` again); True when the deadline, not `read_timeout`, ends that wait."""
    sock = socket_of(response)
    if sock is None:
        return False
    left = read_timeout if deadline is None else deadline - time.monotonic()
    set_wait(sock, min(read_timeout, left))
    return left < read_timeout


def socket_of(response: requests.Response) -> Any:
    """The socket `response` is read from, or None (a body read to its end, a test double)."""
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        # An answer that ends the connection (`Connection: close`, a body delimited by the
        # close) takes its socket over from the connection: only the body's reader holds it.
        reader = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(reader, "raw", None), "_sock", None)
    return sock


def set_wait(sock: Any, seconds: float) -> None:
    """Make each read on `sock` wait `seconds` at most (kept until set again)."""
    if sock is not None:
        sock.settimeout(max(seconds, MIN_WAIT))


def late(
    name: str, total: float, stream: bool, cause: BaseException | None = None
) -> UpstreamTimeoutError:
    """The (logged) error of upstream `name`'s answer not in within `total` seconds; with
    `stream`, of its stream's first event. `cause`, the timeout that ended the wait, loses
    its frames (they hold the failed request, in a cycle urllib3's error makes)."""
    log.warning("upstream %s failed: total timeout", name)
    if cause is not None:
        drop_tracebacks(cause)
    if stream:
        return first_event_timeout(name)
    return UpstreamTimeoutError(
        f"Upstream `{name}` did not send its whole answer within {total:g} seconds.",
        retryable=True,
    )


def first_event_timeout(name: str) -> UpstreamTimeoutError:
    """The error of a stream from upstream `name` without a first event by its deadline."""
    return UpstreamTimeoutError(
        f"Upstream `{name}` did not send the first event of its stream in time.", retryable=True
    )


def first_event_reads(
    name: str,
    chunks: Iterable[bytes],
    deadline: float,
    wait: Callable[[float | None], bool] | None,
    live: Callable[[], bool],
) -> Iterator[bytes]:
    """The reads of a stream from upstream `name`, each waited for until `deadline` at the
    latest while `live()` is false (the client has no chunk yet); no read is begun after it.

    `wait` is `UpstreamHTTP.wait_until` for the stream's response (None: only the time is
    checked). A read the deadline cuts short, or one begun past it, raises the first-event
    timeout; once `live()`, `read_timeout` applies again.
    """
    reads = iter(chunks)
    # Chained: once the bounded reads end, the rest comes straight from `reads`, so a live
    # stream's reads pass through no extra layer.
    return itertools.chain(_until_live(name, reads, deadline, wait, live), reads)


def _until_live(
    name: str,
    reads: Iterator[bytes],
    deadline: float,
    wait: Callable[[float | None], bool] | None,
    live: Callable[[], bool],
) -> Iterator[bytes]:
    """`reads` until `live()`, each bounded by `deadline` (see `first_event_reads`)."""
    while not live():
        if time.monotonic() > deadline:
            # Only pings, events that give the client nothing, or a trickle so far.
            raise first_event_timeout(name)
        bounded = wait is not None and wait(deadline)
        try:
            data = next(reads)
        except StopIteration:
            return
        except UpstreamTimeoutError as exc:
            if not bounded:
                raise  # `read_timeout` ended the wait: a stalled upstream, not a late one
            raise first_event_timeout(name) from exc
        yield data
    if wait is not None:
        wait(None)
