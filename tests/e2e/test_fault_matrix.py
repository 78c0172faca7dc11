"""Every upstream fault × {non-stream, stream} × {first attempt, after retry, with fallback}.

One faulty upstream (tests/fakes/faulty_upstream.py) and one gateway serve the whole module;
the fault is chosen per request by the upstream model name. For every cell the client gets a
valid answer or a well-formed OpenAI error (or, once streaming began, an error event and the
end of the stream) within a wall-time bound (every attempt's timeouts, the backoff and a
margin), measured around the whole call including reading the stream; afterwards the worker
is the same process, it holds no more pooled connections to the upstream than the pool keeps,
and the next request succeeds.
A smaller matrix runs the transport faults and error statuses through the Gemini and
Anthropic backends (the same faulty upstream speaks their wire formats), first attempt only.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.fakes.faulty_upstream import ALL_FAULTS
from tests.support import procinfo
from tests.support.fault_cells import (
    MODES,
    PROVIDER_CELLS,
    Outcome,
    check_cell,
    check_wall_time,
    expected,
    run_cell,
    wall_bound,
)
from tests.support.secret_scan import CLIENT_SECRET, PROVIDER_SECRET
from tests.support.servers import free_port, start_gateway

pytestmark = pytest.mark.slow

POOL_SIZE = 4
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
# Seconds. The client's own timeout is the bound every cell must answer within: the slowest
# cell waits for the total deadline on the first attempt, then succeeds on the next.
TIMEOUTS = {"connect_timeout": 1, "read_timeout": 1.5, "total_timeout": 3}
CLIENT_TIMEOUT = 15.0
RETRY_BACKOFF = 0.01
# A cell makes at most two attempts (a retry, or the fallback model after the first).
WALL_BOUND = wall_bound(TIMEOUTS, attempts=2, backoff=RETRY_BACKOFF)
PROVIDER_WALL_BOUND = wall_bound(TIMEOUTS, attempts=1, backoff=RETRY_BACKOFF)
# A worker that read a 50 MB body whole would grow by more than this.
HUGE_GROWTH_KB = 40 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, faulty_upstream, secret_scan):
    """One gateway worker routing `first/*`, `retry/*` and `fallback/*` to the faulty upstream."""
    faulty = {
        "type": "openai",
        "base_url": f"{faulty_upstream.url}/v1",
        "api_key_env": "FAULTY_UPSTREAM_KEY",
        "pool_size": POOL_SIZE,
        "max_response_bytes": MAX_RESPONSE_BYTES,
        **TIMEOUTS,
    }
    refused = {**faulty, "base_url": f"http://127.0.0.1:{free_port()}/v1"}
    gemini = {**faulty, "type": "gemini", "base_url": f"{faulty_upstream.url}/v1beta"}
    anthropic = {**faulty, "type": "anthropic", "base_url": faulty_upstream.url}
    closed = f"http://127.0.0.1:{free_port()}"
    models = {
        "backends": {
            "faulty": faulty,
            "refused": refused,
            "gemini": gemini,
            "gemini-refused": {**gemini, "base_url": f"{closed}/v1beta"},
            "anthropic": anthropic,
            "anthropic-refused": {**anthropic, "base_url": closed},
        },
        "models": [
            {"id": "healthy", "backend": "faulty", "model": "ok"},
            {"id": "first/*", "backend": "faulty", "strip_prefix": "first/"},
            {"id": "retry/*", "backend": "faulty", "strip_prefix": "retry/", "retries": 1},
            {
                "id": "fallback/*",
                "backend": "faulty",
                "strip_prefix": "fallback/",
                "fallbacks": ["healthy"],
            },
            {"id": "refuse-first", "backend": "refused", "model": "ok"},
            {"id": "refuse-retry", "backend": "refused", "model": "ok", "retries": 1},
            {
                "id": "refuse-fallback",
                "backend": "refused",
                "model": "ok",
                "fallbacks": ["healthy"],
            },
            {"id": "gemini/*", "backend": "gemini", "strip_prefix": "gemini/"},
            {"id": "gemini-refuse", "backend": "gemini-refused", "model": "ok"},
            {"id": "anthropic/*", "backend": "anthropic", "strip_prefix": "anthropic/"},
            {"id": "anthropic-refuse", "backend": "anthropic-refused", "model": "ok"},
        ],
    }
    env = {
        "GATEWAY_API_KEYS": CLIENT_SECRET,
        "FAULTY_UPSTREAM_KEY": PROVIDER_SECRET,
        "GATEWAY_RETRY_BACKOFF": str(RETRY_BACKOFF),
        "LOG_LEVEL": "DEBUG",
        "GUNICORN_GRACEFUL_TIMEOUT": "2",
        "SHUTDOWN_GRACE_SECONDS": "1",
    }
    server = start_gateway(tmp_path_factory.mktemp("matrix"), models, env=env)
    server.worker = procinfo.wait_for_workers(server.proc.pid)[0]
    yield server
    server.stop()
    secret_scan.add("fault matrix gateway output", server.output())


def pooled(gateway, faulty_upstream) -> int:
    """Connections the gateway worker holds to the faulty upstream right now."""
    return procinfo.connections_to(gateway.worker, faulty_upstream.port)


def healthy_request(gateway) -> requests.Response:
    body = {"model": "healthy", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {CLIENT_SECRET}"}
    return requests.post(
        f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=CLIENT_TIMEOUT
    )


Cell = tuple[str, str, str, bool, Outcome]  # provider, fault, mode, stream, expected outcome


def run_cells(gateway, secret_scan, cells: list[Cell]) -> list[str]:
    """Run the cells at once; returns the failures found."""

    def one(cell: Cell) -> str | None:
        provider, fault, mode, stream, outcome = cell
        bound = WALL_BOUND if provider == "openai" else PROVIDER_WALL_BOUND
        name = f"{provider}:{fault}/{mode}/{'stream' if stream else 'json'}"
        user = uuid.uuid4().hex
        try:
            request, result, elapsed = run_cell(
                gateway.url, CLIENT_SECRET, fault, mode, stream, user, CLIENT_TIMEOUT, provider
            )
            secret_scan.add(f"{name} answer", result.body)
            secret_scan.add(f"{name} headers", result.headers.items())
            check_cell(outcome, request, result)
            check_wall_time(elapsed, bound)
        except (AssertionError, requests.RequestException) as exc:
            return f"{name}: {type(exc).__name__}: {exc}"
        return None

    with ThreadPoolExecutor(len(cells)) as pool:
        return [failure for failure in pool.map(one, cells) if failure]


def run_fault(gateway, fault: str, secret_scan) -> list[str]:
    """Run the fault's six cells at once; returns the failures found."""
    cells = [("openai", fault, m, s, expected(fault, m, s)) for m in MODES for s in (False, True)]
    return run_cells(gateway, secret_scan, cells)


@pytest.mark.parametrize("fault", [*ALL_FAULTS, "refuse"])
def test_fault(gateway, faulty_upstream, fault, secret_scan):
    rss_before = procinfo.rss_kb(gateway.worker)
    failures = run_fault(gateway, fault, secret_scan)
    assert not failures, "\n".join(failures)
    if fault == "huge":
        growth = procinfo.rss_kb(gateway.worker) - rss_before
        assert growth < HUGE_GROWTH_KB, f"worker grew by {growth} KiB reading huge answers"
    # Connections return to the pool or are closed; never more than the pool keeps.
    held = procinfo.settle(lambda: pooled(gateway, faulty_upstream), lambda n: n <= POOL_SIZE)
    assert held <= POOL_SIZE, f"{held} connections to the upstream after {fault}"
    assert procinfo.children(gateway.proc.pid) == [gateway.worker], "the worker was replaced"
    response = healthy_request(gateway)
    assert response.status_code == 200, response.text


def test_repeated_rounds_hold_no_more_connections_or_fds(gateway, faulty_upstream, secret_scan):
    slow = ("hang", "stall", "silent", "drip", "slow", "huge")
    # The HTML and plain-text error pages take the path of the JSON errors: left out for speed.
    quick = [f for f in ALL_FAULTS if f not in slow and not f.endswith(("_html", "_text"))]

    def round_trip() -> tuple[int, int]:
        for fault in quick:
            assert not run_fault(gateway, fault, secret_scan)
        held = procinfo.settle(lambda: pooled(gateway, faulty_upstream), lambda n: n <= POOL_SIZE)
        return held, procinfo.fd_count(gateway.worker)

    first_held, first_fds = round_trip()
    second_held, second_fds = round_trip()
    assert second_held <= POOL_SIZE and first_held <= POOL_SIZE
    # Pooled sockets may be swapped, never accumulated.
    assert second_fds <= first_fds + 1, f"fds grew from {first_fds} to {second_fds}"


# The faults that wait for a timeout run together, both providers at once, to keep it fast.
_WAITING = ("hang", "stall")
PROVIDER_GROUPS = [
    [(p, f) for p, faults in PROVIDER_CELLS.items() for f in faults if f in _WAITING],
    *([(p, f)] for p, faults in PROVIDER_CELLS.items() for f in faults if f not in _WAITING),
]


@pytest.mark.parametrize(
    "group", PROVIDER_GROUPS, ids=["+".join(f"{p}-{f}" for p, f in g) for g in PROVIDER_GROUPS]
)
def test_provider_fault(gateway, faulty_upstream, group, secret_scan):
    cells: list[Cell] = []
    for provider, fault in group:
        json_outcome, stream_outcome = PROVIDER_CELLS[provider][fault]
        cells += [
            (provider, fault, "first", False, json_outcome),
            (provider, fault, "first", True, stream_outcome),
        ]
    failures = run_cells(gateway, secret_scan, cells)
    assert not failures, "\n".join(failures)
    # Three backends (openai, gemini, anthropic) each keep a pool to the upstream.
    limit = 3 * POOL_SIZE
    held = procinfo.settle(lambda: pooled(gateway, faulty_upstream), lambda n: n <= limit)
    assert held <= limit, f"{held} connections to the upstream after {group}"
    assert procinfo.children(gateway.proc.pid) == [gateway.worker], "the worker was replaced"
    for provider in sorted({p for p, _ in group}):
        body = {"model": f"{provider}/ok", "messages": [{"role": "user", "content": "hi"}]}
        response = requests.post(
            f"{gateway.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {CLIENT_SECRET}"},
            timeout=CLIENT_TIMEOUT,
        )
        assert response.status_code == 200, response.text


def test_worker_survived_every_fault(gateway):
    assert gateway.proc.poll() is None
    assert procinfo.children(gateway.proc.pid) == [gateway.worker]
    output = gateway.output()
    assert "Traceback" not in output, output[-3000:]
    assert "WORKER TIMEOUT" not in output and "Booting worker" in output
    assert output.count("Booting worker") == 1, "a worker was restarted"
