"""The Procfile's gunicorn: the command the tests run, gevent workers, long streams, clean exit."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import CLIENT_KEY
from tests.support import openai_checks as checks
from tests.support import procinfo
from tests.support.servers import procfile_command, start_gateway

pytestmark = pytest.mark.slow

WORKER_TIMEOUT = 2
# 20 tokens, 0.2 s apart: the stream lasts about twice the worker timeout.
SLOW_MODELS = {
    "backends": {"slow": {"type": "mock", "chunk_delay": 0.2}},
    "models": [{"id": "slow-mock", "backend": "slow"}],
}


def test_procfile_web_command_is_what_the_fixture_runs(gateway_server):
    assert procfile_command() == ["gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"]
    assert gateway_server.proc.args == procfile_command()
    log = gateway_server.output()
    assert "Using worker: GeventWorker" in log
    assert f"Listening at: http://127.0.0.1:{gateway_server.port}" in log


def test_gevent_is_loaded_by_the_workers_only(gateway_server):
    master = gateway_server.proc.pid
    workers = procinfo.wait_for_workers(master)
    assert not _maps_gevent(master), "the master imported gevent"
    assert all(_maps_gevent(worker) for worker in workers)
    with httpx.Client() as client:  # the worker serves as gunicorn's gevent worker
        assert client.get(f"{gateway_server.url}/health").status_code == 200


def _maps_gevent(pid: int) -> bool:
    """True when gevent's compiled modules are mapped into process `pid`."""
    with open(f"/proc/{pid}/maps") as maps:
        return any("/gevent/" in line for line in maps)


def test_stream_longer_than_worker_timeout_survives_then_worker_closes_backends(tmp_path):
    server = start_gateway(
        tmp_path,
        SLOW_MODELS,
        env={
            "GATEWAY_API_KEYS": CLIENT_KEY,
            "GUNICORN_TIMEOUT": str(WORKER_TIMEOUT),
            "LOG_LEVEL": "INFO",
        },
    )
    try:
        request = {
            "model": "slow-mock",
            "messages": [{"role": "user", "content": "Tell me a long story about gateways"}],
            "stream": True,
            "max_tokens": 20,
        }
        started = time.monotonic()
        result = checks.post_sse(f"{server.url}/v1/chat/completions", request, CLIENT_KEY)
        lasted = time.monotonic() - started
        assembled = checks.check_chat_sse(result.data, request)
        assert assembled["choices"][0]["finish_reason"] == "length"
        # Not a timing check: without this the test would prove nothing about the timeout.
        assert lasted > WORKER_TIMEOUT, f"the stream lasted only {lasted:.1f}s"
        assert "WORKER TIMEOUT" not in server.output()
    finally:
        server.stop()
    log = server.output()
    assert "closed its backends" in log, log[-2000:]
