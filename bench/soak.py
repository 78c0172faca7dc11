"""Soak test: many mixed requests against a gunicorn gateway, watching each worker's memory
and open file descriptors.

Starts the faulty upstream (tests/fakes/faulty_upstream.py) and the gateway (the Procfile's
gunicorn command, 2 gevent workers, client keys and request logs on), then sends `--requests`
requests from `--concurrency` keep-alive clients: mock and upstream answers, streams and not,
and failing ones (upstream 5xx and 429, streams cut mid-event, malformed upstream JSON, bad
request bodies, unknown models, wrong keys). Each worker's RSS and fd count are sampled after
a warm-up, at the middle and at the end, and printed as a table with the goal: memory growth
under 10 MB after warm-up, no fd growth. Traffic stays on 127.0.0.1; the run stops by itself
after the requests or `--max-seconds`, and stops every process it started.

Run: `.venv/bin/python bench/soak.py [--requests 100000 | --quick] [--concurrency 16]`.
Exits 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import procs  # noqa: E402

from tests.support import procinfo  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-soak-client-key-5e1d"
PROVIDER_KEY = "sk-soak-provider-key-8c2f"
GOAL_MB = 10.0
POOL_SIZE = 32
HI = [{"role": "user", "content": "Say hi"}]
# (name, weight, model, stream, expected status, how the request is spoiled)
MIX = [
    ("mock", 25, "mock", False, 200, None),
    ("mock stream", 12, "mock", True, 200, None),
    ("upstream", 15, "up/ok", False, 200, None),
    ("upstream stream", 10, "up/ok", True, 200, None),
    ("upstream 500", 5, "up/http_500", False, 502, None),
    ("upstream 429", 4, "up/http_429_empty", True, 429, None),
    ("cut mid-event", 5, "up/cut_mid_event", True, 200, None),
    ("malformed upstream", 4, "up/bad_json", False, 502, None),
    ("bad JSON body", 8, "mock", False, 400, "body"),
    ("unknown model", 6, "no-such-model", False, 404, None),
    ("wrong key", 6, "mock", False, 401, "key"),
]


def start_processes(tmp: Path, workers: int) -> tuple[subprocess.Popen, subprocess.Popen, int, int]:
    """The faulty upstream and the gateway, both ready; returns them and both ports."""
    up_port, port = procs.free_port(), procs.free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.faulty_upstream", "--port", str(up_port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    models = {
        "backends": {
            "mock": {"type": "mock"},
            "up": {
                "type": "openai",
                "base_url": f"http://127.0.0.1:{up_port}/v1",
                "api_key_env": "SOAK_PROVIDER_KEY",
                "read_timeout": 10,
                "pool_size": POOL_SIZE,
            },
        },
        "models": [
            {"id": "mock", "backend": "mock"},
            {"id": "up/*", "backend": "up", "strip_prefix": "up/"},
        ],
    }
    (tmp / "models.yaml").write_text(yaml.safe_dump(models))
    line = next(li for li in (ROOT / "Procfile").read_text().splitlines() if li.startswith("web:"))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "MODELS_FILE": str(tmp / "models.yaml"),
        "GATEWAY_API_KEYS": KEY,
        "SOAK_PROVIDER_KEY": PROVIDER_KEY,
        "GATEWAY_RETRY_BACKOFF": "0.01",
        "GUNICORN_GRACEFUL_TIMEOUT": "3",
        "SHUTDOWN_GRACE_SECONDS": "1",
    }
    with open(tmp / "gateway.log", "wb") as log:
        gateway = subprocess.Popen(
            shlex.split(line.removeprefix("web:")), cwd=ROOT, env=env, stdout=log, stderr=log
        )
    procs.wait_port(up_port)
    procs.wait_port(port)
    return upstream, gateway, port, up_port


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def workers_of(gateway: subprocess.Popen, count: int) -> list[int]:
    """The gateway's worker pids, once all `count` run."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = procs.tree(gateway.pid)[1:]
        if len(pids) >= count:
            return sorted(pids)
        time.sleep(0.1)
    raise RuntimeError("the gateway's workers did not start")


Sample = dict[int, tuple[float, int, int]]


def sample(pids: list[int], up_port: int) -> Sample:
    """Each worker's (RSS in MB, open fds other than pooled upstream connections, pooled)."""
    out = {}
    for pid in pids:
        try:
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            pooled = procinfo.connections_to(pid, up_port)
        except OSError:
            fds, pooled = -1, -1  # the worker is gone
        out[pid] = (procs.rss_bytes([pid]) / 1e6, fds - pooled, pooled)
    return out


# Each client opens a new connection after this many requests, as real clients come and go.
REQUESTS_PER_CONNECTION = 100


class Load:
    """Client threads that share one request counter and tally the outcomes."""

    def __init__(self, port: int, deadline: float) -> None:
        self.url = f"http://127.0.0.1:{port}/v1/chat/completions"
        self.total = 0
        self.deadline = deadline
        self.counter = itertools.count()
        self.done = 0
        self.lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.unexpected: Counter[str] = Counter()
        self.plan = [entry for entry in MIX for _ in range(entry[1])]

    def run(self) -> None:
        """One client: take request numbers until the total (or the deadline) is reached."""
        session = requests.Session()
        sent = 0
        while (i := next(self.counter)) < self.total and time.monotonic() < self.deadline:
            if sent == REQUESTS_PER_CONNECTION:
                session.close()
                session, sent = requests.Session(), 0
            name, _, model, stream, status, spoil = self.plan[i % len(self.plan)]
            try:
                got: int | str = self._one(session, model, stream, spoil)
            except requests.RequestException as exc:
                got = type(exc).__name__
            sent += 1
            with self.lock:
                self.done += 1
                self.outcomes[f"{name}: {got}"] += 1
                if got != status:
                    self.unexpected[f"{name}: {got} (expected {status})"] += 1
        session.close()

    def phase(self, until: int, concurrency: int) -> None:
        """Run clients until `until` requests are done in all; all their connections closed."""
        self.total = until
        self.counter = itertools.count(self.done)
        threads = [threading.Thread(target=self.run, daemon=True) for _ in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _one(self, session: requests.Session, model: str, stream: bool, spoil: str | None) -> int:
        key = "sk-wrong-key-000" if spoil == "key" else KEY
        body = json.dumps({"model": model, "messages": HI, "stream": stream, "max_tokens": 8})
        data = body[:-3] if spoil == "body" else body
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with session.post(self.url, data=data, headers=headers, stream=stream, timeout=30) as r:
            for _ in r.iter_content(chunk_size=None):
                pass
            return r.status_code


def report(samples: dict[str, Sample], load: Load, seconds: float) -> bool:
    """Print the tables; True when the goal is met."""
    start, middle, end = samples["start"], samples["middle"], samples["end"]
    print(f"\n{load.done} requests in {seconds:.0f} s ({load.done / seconds:.0f}/s)\n")
    print(
        "| worker | RSS start MB | RSS middle MB | RSS end MB | growth MB "
        "| other fds start/mid/end | pooled upstream conns start/mid/end |"
    )
    print("|---|---|---|---|---|---|---|")
    ok = True
    for pid in start:
        growth = end[pid][0] - start[pid][0]
        fds = " / ".join(str(at[pid][1]) for at in (start, middle, end))
        pooled = " / ".join(str(at[pid][2]) for at in (start, middle, end))
        print(
            f"| {pid} | {start[pid][0]:.1f} | {middle[pid][0]:.1f} | {end[pid][0]:.1f} "
            f"| {growth:+.1f} | {fds} | {pooled} |"
        )
        ok &= growth < GOAL_MB and 0 <= end[pid][1] <= start[pid][1]
        ok &= 0 <= end[pid][2] <= POOL_SIZE
    verdict = "met" if ok else "MISSED"
    print(
        f"\nGoal: RSS growth < {GOAL_MB:g} MB after warm-up, no fd growth, at most {POOL_SIZE} "
        f"pooled upstream connections per worker: {verdict}"
    )
    print("\n| outcome | count |\n|---|---|")
    for outcome, count in sorted(load.outcomes.items()):
        print(f"| {outcome} | {count} |")
    if load.unexpected:
        print("\nUnexpected outcomes:", dict(load.unexpected))
    return ok and not load.unexpected


def main() -> int:
    """Run the soak; the exit status says whether the goal was met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5,000 requests")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args()
    total = 5_000 if args.quick else args.requests
    warmup = max(500, total // 20)
    with tempfile.TemporaryDirectory(prefix="gateway-soak-") as folder:
        tmp = Path(folder)
        upstream, gateway, port, up_port = start_processes(tmp, args.workers)
        try:
            pids = workers_of(gateway, args.workers)
            load = Load(port, time.monotonic() + args.max_seconds)
            samples: dict[str, Sample] = {}
            marks = {"start": warmup, "middle": warmup + (total - warmup) // 2, "end": total}
            started = time.monotonic()
            for name, mark in marks.items():
                load.phase(mark, args.concurrency)
                # Samples are taken at rest, every client connection closed, so they compare.
                time.sleep(1.0)
                samples[name] = sample(pids, up_port)
                print(f"{name:>6}: {load.done} requests, {samples[name]}", flush=True)
            ok = report(samples, load, time.monotonic() - started - 3.0)
        finally:
            stop(gateway)
            stop(upstream)
        output = (tmp / "gateway.log").read_text(errors="replace")
        leaked = [key for key in (KEY, PROVIDER_KEY) if key in output]
        lines = len(output.splitlines())
        print(f"\nGateway output: {lines} lines, keys found in it: {leaked or 'none'}")
    return 0 if ok and not leaked else 1


if __name__ == "__main__":
    sys.exit(main())
