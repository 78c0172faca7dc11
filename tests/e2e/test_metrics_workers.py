"""Metrics and request logs of a real gunicorn gateway with two workers.

prometheus-client's multiprocess mode: each worker writes its own files, and `/metrics` (served
by either worker) adds them up. The request log is one JSON line per request on stdout.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.support import openai_checks as checks
from tests.support.gateway_log import entry_for, request_lines
from tests.support.servers import ServerProcess, free_port, procfile_command
from tests.support.sse import iter_sse

pytestmark = pytest.mark.slow

CLIENT_SECRET = "sk-e2e-metrics-RECOGNISABLE-4f1c"
METRICS_TOKEN = "metrics-e2e-token"
MODELS = {
    "backends": {
        "mock": {"type": "mock", "chunk_delay": 0.01},
        "slow": {"type": "mock", "chunk_delay": 0.2},
    },
    "models": [{"id": "gpt-4o", "backend": "mock"}, {"id": "slow-mock", "backend": "slow"}],
}
CHAT = "/v1/chat/completions"
AUTH = {"Authorization": f"Bearer {CLIENT_SECRET}"}
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}
PROMPT = [{"role": "user", "content": "Count the workers"}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """Two workers; stderr goes to a file of its own, so that stdout can be checked alone."""
    tmp: Path = tmp_path_factory.mktemp("metrics")
    port = free_port()
    (tmp / "models.yaml").write_text(yaml.safe_dump(MODELS))
    env = {
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        "MODELS_FILE": str(tmp / "models.yaml"),
        "GATEWAY_API_KEYS": CLIENT_SECRET,
        "METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prometheus"),
    }
    command = f"exec {shlex.join(procfile_command())} 2>{shlex.quote(str(tmp / 'stderr.log'))}"
    server = ServerProcess(["sh", "-c", command], port, env, tmp / "stdout.log").wait_ready()
    server.metrics_dir = tmp / "prometheus"
    server.stderr_path = tmp / "stderr.log"
    yield server
    server.stop()


def scrape(server) -> str:
    response = requests.get(f"{server.url}/metrics", headers=SCRAPE, timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def served_per_worker(metrics_dir: Path) -> dict[str, float]:
    """Chat requests counted in each worker's own file (pid -> count)."""
    counts = {}
    for path in glob.glob(os.path.join(metrics_dir, "counter_*.db")):
        pid = Path(path).stem.removeprefix("counter_")
        for family in MultiProcessCollector.merge([path]):
            for sample in family.samples:
                if sample.name == "gateway_requests_total" and sample.labels["route"] == CHAT:
                    counts[pid] = counts.get(pid, 0) + sample.value
    return counts


def chat(server, request_id: str, **extra) -> dict:
    """One chat request on a new connection (so that either worker may take it)."""
    body = {"model": "gpt-4o", "messages": PROMPT, "max_tokens": 5, **extra}
    headers = {**AUTH, "X-Request-ID": request_id}
    response = requests.post(f"{server.url}{CHAT}", json=body, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_totals_add_up_across_both_workers(gateway):
    before = scrape(gateway)
    sent, prompt_tokens, completion_tokens = 0, 0, 0
    # The kernel hands each new connection to one of the workers; keep going until both served.
    while len([n for n in served_per_worker(gateway.metrics_dir).values() if n]) < 2:
        assert sent < 300, (
            f"one worker served every request: {served_per_worker(gateway.metrics_dir)}"
        )
        for _ in range(10):
            usage = chat(gateway, f"count-{uuid.uuid4().hex}")["usage"]
            sent += 1
            prompt_tokens += usage["prompt_tokens"]
            completion_tokens += usage["completion_tokens"]
    labels = {"route": CHAT, "model": "gpt-4o", "backend": "mock", "status": "200"}
    # A request is counted as its response closes, just after the client has the body: on a
    # busy machine the last one may not be in yet.
    deadline = time.monotonic() + 5
    while (
        value(scrape(gateway), "gateway_requests_total", **labels)
        - value(before, "gateway_requests_total", **labels)
        < sent
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    # Every scrape, whichever worker answers it, sees the sum over both.
    for _ in range(4):
        after = scrape(gateway)
        delta = value(after, "gateway_requests_total", **labels) - value(
            before, "gateway_requests_total", **labels
        )
        assert delta == sent
    assert sum(served_per_worker(gateway.metrics_dir).values()) == value(
        after, "gateway_requests_total", route=CHAT
    )
    latency = "gateway_request_duration_seconds_count"
    assert (
        value(after, latency, route=CHAT, stream="false")
        - value(before, latency, route=CHAT, stream="false")
        == sent
    )
    for name, expected in (
        ("gateway_prompt_tokens_total", prompt_tokens),
        ("gateway_completion_tokens_total", completion_tokens),
    ):
        grown = value(after, name, key="key-1", model="gpt-4o") - value(
            before, name, key="key-1", model="gpt-4o"
        )
        assert grown == expected, name
    assert CLIENT_SECRET not in after


def test_streams_record_ttft_and_the_active_streams_gauge(gateway):
    before = scrape(gateway)
    for _ in range(3):
        request = {"model": "gpt-4o", "messages": PROMPT, "stream": True, "max_tokens": 5}
        result = checks.post_sse(f"{gateway.url}{CHAT}", request, CLIENT_SECRET)
        checks.check_chat_sse(result.data, request)
    ttft = "gateway_time_to_first_token_seconds_count"
    assert value(scrape(gateway), ttft, model="gpt-4o") - value(before, ttft, model="gpt-4o") == 3

    request = {"model": "slow-mock", "messages": PROMPT, "stream": True, "max_tokens": 200}
    url = f"{gateway.url}{CHAT}"
    with requests.post(url, json=request, headers=AUTH, stream=True, timeout=30) as response:
        events = iter_sse(response)
        next(events), next(events)
        assert value(scrape(gateway), "gateway_active_streams") == 1
    deadline = time.monotonic() + 10
    while value(scrape(gateway), "gateway_active_streams") != 0:
        assert time.monotonic() < deadline, "the closed stream still counts as active"
        time.sleep(0.05)


@pytest.mark.parametrize(
    "headers",
    [{}, AUTH, {"Authorization": "Bearer not-the-token"}],
    ids=["none", "client-key", "wrong"],
)
def test_metrics_token_protects_the_endpoint(gateway, headers):
    response = requests.get(f"{gateway.url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 401
    checks.check_error(response.json(), 401)
    assert "gateway_requests_total" not in response.text


def test_one_json_line_per_request_on_stdout_without_the_key(gateway):
    ids = [f"log-{uuid.uuid4().hex}" for _ in range(3)]
    for request_id in ids:
        chat(gateway, request_id)
    request = {"model": "gpt-4o", "messages": PROMPT, "stream": True, "max_tokens": 3}
    headers = {**AUTH, "X-Request-ID": "log-stream-1"}
    url = f"{gateway.url}{CHAT}"
    with requests.post(url, json=request, headers=headers, stream=True, timeout=30) as r:
        list(iter_sse(r))
    for request_id in ids:
        entry = entry_for(gateway, request_id)
        assert entry["status"] == 200 and entry["stream"] is False
        assert (entry["key_name"], entry["model"], entry["backend"]) == ("key-1", "gpt-4o", "mock")
        assert entry["latency_ms"] >= 0 and entry["prompt_tokens"] > 0
    streamed = entry_for(gateway, "log-stream-1")
    assert streamed["stream"] is True and streamed["ttft_ms"] is not None
    lines = request_lines(gateway)
    assert len([e for e in lines if e["request_id"] in ids]) == len(ids)
    output = gateway.output()
    assert CLIENT_SECRET not in output
    # Every line the gateway logs is on stdout; stderr stays empty.
    assert "Booting worker" in output
    assert gateway.stderr_path.read_text() == ""
    for line in output.splitlines():
        if line.startswith("{"):
            json.loads(line)
