"""SIGTERM: the gateway stops accepting, lets streams finish for the grace period, then ends them.

Every stream in flight ends cleanly: with `[DONE]` when it finished in time, otherwise with one
error event (`server_shutting_down`), even when its upstream is silent at the deadline; never
in the middle of a line.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
import requests

from tests.conftest import CLIENT_KEY
from tests.support import openai_checks as checks
from tests.support.gateway_log import entry_for
from tests.support.servers import start_gateway
from tests.support.sse import iter_sse

pytestmark = pytest.mark.slow

GRACE = 3
MODELS = {
    "backends": {
        "quick": {"type": "mock", "chunk_delay": 0.1},
        "slow": {"type": "mock", "chunk_delay": 0.2},
        # One chunk, then a silence far longer than gunicorn's graceful timeout (GRACE + 5 s).
        "silent": {"type": "mock", "chunk_delay": 120},
    },
    "models": [{"id": name, "backend": name} for name in ("quick", "slow", "silent")],
}


class Reader(threading.Thread):
    """Reads one stream to its end in the background; `started` is set at the first event."""

    def __init__(self, url: str, model: str, max_tokens: int) -> None:
        super().__init__(daemon=True)
        self.url, self.request_id = url, f"shutdown-{model}"
        self.request = {
            "model": model,
            "messages": [{"role": "user", "content": "Tell me a long story about servers"}],
            "stream": True,
            "max_tokens": max_tokens,
        }
        self.started = threading.Event()
        self.events: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {CLIENT_KEY}", "X-Request-ID": self.request_id}
        try:
            with requests.post(
                self.url, json=self.request, headers=headers, stream=True, timeout=60
            ) as response:
                for event in iter_sse(response):
                    self.events.append(event.data)
                    self.started.set()
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.started.set()


def refused(url: str) -> bool:
    try:
        requests.get(f"{url}/health", timeout=2)
    except requests.ConnectionError:
        return True
    return False


def test_streams_in_flight_at_sigterm_end_cleanly(tmp_path):
    server = start_gateway(
        tmp_path,
        MODELS,
        env={"GATEWAY_API_KEYS": CLIENT_KEY, "SHUTDOWN_GRACE_SECONDS": str(GRACE)},
    )
    url = f"{server.url}/v1/chat/completions"
    try:
        slow, silent = Reader(url, "slow", 400), Reader(url, "silent", 50)
        for reader in (slow, silent):
            reader.start()
            assert reader.started.wait(30) and reader.error is None, reader.error
        # Well within the grace period: 6 tokens at 0.1 s.
        quick = Reader(url, "quick", 6)
        quick.start()
        assert quick.started.wait(30) and quick.error is None, quick.error
        server.proc.send_signal(signal.SIGTERM)

        deadline = time.monotonic() + 10
        while not refused(server.url):
            assert time.monotonic() < deadline, "still accepting connections after SIGTERM"
            time.sleep(0.05)
        for reader in (quick, slow, silent):
            reader.join(60)
            assert not reader.is_alive(), f"{reader.request_id} never ended"
            assert reader.error is None, f"{reader.request_id}: {reader.error!r}"
        assert server.proc.wait(30) == 0
    finally:
        server.stop()

    checks.check_chat_sse(quick.events, quick.request)
    for reader in (slow, silent):
        error = checks.check_error_sse(reader.events)
        assert (error.type, error.code) == ("server_error", "server_shutting_down")
        assert entry_for(server, reader.request_id)["stream_error"] == "server_error"
    assert entry_for(server, quick.request_id)["stream_error"] is None
    log = server.output()
    assert "grace period over" in log and "Worker graceful timeout" not in log


def test_connections_idle_between_requests_do_not_hold_up_a_restart(tmp_path):
    # A grace period far longer than the test may take: only closing the idle connection
    # lets the worker exit early. Not a timing check of speed, a check that nothing waits.
    server = start_gateway(
        tmp_path, MODELS, env={"GATEWAY_API_KEYS": CLIENT_KEY, "SHUTDOWN_GRACE_SECONDS": "120"}
    )
    url = f"{server.url}/v1/chat/completions"
    idle = requests.Session()
    try:
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        answer = idle.get(f"{server.url}/v1/models", headers=headers, timeout=10)
        assert answer.status_code == 200 and answer.headers["Connection"] == "keep-alive"
        # A stream in flight at SIGTERM still runs to its end on its own connection.
        quick = Reader(url, "quick", 10)
        quick.start()
        assert quick.started.wait(30) and quick.error is None, quick.error
        server.proc.send_signal(signal.SIGTERM)
        quick.join(60)
        assert not quick.is_alive() and quick.error is None, quick.error
        assert server.proc.wait(60) == 0
    finally:
        idle.close()
        server.stop()
    checks.check_chat_sse(quick.events, quick.request)
    assert "Worker graceful timeout" not in server.output()
