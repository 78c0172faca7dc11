"""Benchmark of the gateway's `openai` fast path: one load direct, bare-relayed and gatewayed.

Starts the fake upstream (bench/fake_upstream.py), the gateway (the Procfile's gunicorn
command, 2 gevent workers, client keys on, request log on) and, as a yardstick, a bare Flask +
`requests` pass-through (bench/bare_relay.py, served the same way), drives load from separate
processes (`wrk` for plain requests, bench/streams.py for streams), and prints a Markdown
table of measured values next to the targets. All traffic stays on 127.0.0.1; every phase
has a time limit and every process started here is stopped at the end.

Run: `.venv/bin/python bench/run.py [--quick] [--streams 1000] [--json results.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs  # noqa: E402
import report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PYTHON = sys.executable
KEY = "gw-bench-client-key"
MODEL = "bench-model"


class Processes:
    """Server processes started by the benchmark, each in its own session, stopped at exit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        """Start `argv` with its output in `<folder>/<name>.log`."""
        log = open(self.folder / f"{name}.log", "wb")
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        """SIGTERM each process, then SIGKILL what is left after 15 s."""
        for proc in reversed(self.started):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.started):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def procfile_argv() -> list[str]:
    """The Procfile's `web:` command, split into argv."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return shlex.split(line.removeprefix("web:").strip())
    raise RuntimeError("Procfile has no web: line")


def start_gateway(procs_: Processes, upstream_port: int, workers: int) -> tuple[int, int]:
    """The gateway routing `bench-model` to the fake upstream; returns (port, master pid)."""
    port = procs.free_port()
    models = {
        "backends": {
            "fake": {
                "type": "openai",
                "base_url": f"http://127.0.0.1:{upstream_port}/v1",
                "api_key_env": "BENCH_UPSTREAM_KEY",
            }
        },
        "models": [{"id": MODEL, "backend": "fake", "model": "gpt-4o-mini"}],
    }
    models_file = procs_.folder / "models.yaml"
    models_file.write_text(yaml.safe_dump(models))
    env = {
        **os.environ,
        "PATH": f"{Path(PYTHON).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "MODELS_FILE": str(models_file),
        "GATEWAY_API_KEYS": KEY,
        "BENCH_UPSTREAM_KEY": "sk-bench-upstream-key",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        "SHUTDOWN_GRACE_SECONDS": "2",
    }
    proc = procs_.start("gateway", procfile_argv(), env)
    _wait_for_workers(port, workers, "/health", "GET")
    return port, proc.pid


def start_bare(procs_: Processes, upstream_port: int, workers: int) -> tuple[int, int]:
    """bench/bare_relay.py under gunicorn, gevent workers as the gateway's; (port, master pid)."""
    port = procs.free_port()
    gunicorn = str(Path(PYTHON).parent / "gunicorn")
    argv = [gunicorn, "--chdir", str(BENCH), "-k", "gevent", "-w", str(workers)]
    argv += ["--worker-connections", "2000", "-b", f"127.0.0.1:{port}", "bare_relay:app"]
    env = {**os.environ, "BARE_UPSTREAM": f"http://127.0.0.1:{upstream_port}"}
    env["BARE_UPSTREAM_KEY"] = "sk-bench-upstream-key"
    proc = procs_.start("bare", argv, env)
    _wait_for_workers(port, workers)
    return port, proc.pid


def _wait_for_workers(port: int, workers: int, *request: str) -> None:
    """Wait for the port, then until every worker can answer `request` (wrk's path and
    method): workers import the app after the master binds."""
    procs.wait_port(port)
    for _ in range(workers * 4):
        wrk(port, 1, 1, *request)


def wrk(
    port: int,
    connections: int,
    seconds: int,
    path: str = "/v1/chat/completions",
    method: str = "POST",
) -> dict:
    """Run wrk (one thread) with bench/post.lua; the summary its `done` hook prints.

    wrk corrects its latency histogram for coordinated omission before `done` runs (each
    answer slower than twice the run's mean interval adds synthetic samples), so at
    concurrency 32 the percentiles and mean it reports sit above the measured ones; the table
    shows latency at concurrency 1 only, where few answers take twice the mean.
    """
    env = {**os.environ, "BENCH_KEY": KEY, "BENCH_MODEL": MODEL, "BENCH_PATH": path}
    env["BENCH_METHOD"] = method
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    argv += ["-s", str(BENCH / "post.lua"), f"http://127.0.0.1:{port}"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 30)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    raise RuntimeError(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")


class Meter:
    """CPU seconds over one phase: the measured server's, and other processes' (skewing it)."""

    def __init__(self, server: list[int], upstream: int) -> None:
        self.server, self.upstream = server, upstream

    def __enter__(self) -> Meter:
        self.start = self._sample()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._sample()
        wall, busy, server, upstream, own = (b - a for a, b in zip(self.start, end, strict=True))
        self.result = {
            "wall_s": wall,
            "server_cpu_s": server,
            # Everything the machine did besides the server, the upstream and the load.
            "others_cpu_s": max(0.0, busy - server - upstream - own),
        }

    def _sample(self) -> tuple[float, ...]:
        return (
            time.monotonic(),
            procs.machine_busy_seconds(),
            procs.cpu_seconds(self.server),
            procs.cpu_seconds([self.upstream]),
            procs.own_cpu_seconds(),
        )


def streams(port: int, count: int, pids: list[int] | None = None) -> dict:
    """bench/streams.py with `count` streams; with `pids`, their peak RSS and PSS meanwhile."""
    argv = [PYTHON, str(BENCH / "streams.py"), "--port", str(port), "--streams", str(count)]
    argv += ["--key", KEY, "--model", MODEL, "--timeout", "60"]
    peak = {"rss": 0, "pss": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak["rss"] = max(peak["rss"], procs.rss_bytes(pids or []))
            peak["pss"] = max(peak["pss"], procs.pss_bytes(pids or []))

    sampler = threading.Thread(target=sample, daemon=True)
    if pids:
        sampler.start()
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
    if pids:
        sampler.join()
    if done.returncode != 0:
        raise RuntimeError(f"streams.py failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if pids:
        result.update(peak)
    return result


def measure(args: argparse.Namespace, folder: Path) -> dict:
    """Every phase, direct, through the bare relay and through the gateway, in one run."""
    seconds = 5 if args.quick else 15
    latency_seconds = 4 if args.quick else 10
    processes = Processes(folder)
    try:
        up_port = procs.free_port()
        up_argv = [PYTHON, str(BENCH / "fake_upstream.py"), "--port", str(up_port)]
        upstream = processes.start("upstream", up_argv, dict(os.environ))
        procs.wait_port(up_port)
        gw_port, master = start_gateway(processes, up_port, args.workers)
        pids = procs.tree(master)
        bare_port, bare_master = start_bare(processes, up_port, args.workers)
        bare_pids = procs.tree(bare_master)
        print(f"gateway pids {pids}, upstream port {up_port}, logs in {folder}", file=sys.stderr)
        for port in (bare_port, gw_port):
            wrk(port, 32, 2 if args.quick else 4)  # warm-up: pools, imports, caches
            streams(port, 10)
        results: dict = {"machine": procs.machine(), "workers": args.workers, "quick": args.quick}
        results["busy_before"] = procs.wait_quiet(args.wait_quiet)
        phases = [
            ("throughput", lambda port, p: wrk(port, 32, seconds)),
            ("latency", lambda port, p: wrk(port, 1, latency_seconds)),
            ("streams_10", lambda port, p: streams(port, 10, p)),
            ("streams_many", lambda port, p: streams(port, args.streams, p)),
        ]
        for name, phase in phases:
            print(f"phase {name} ...", file=sys.stderr)
            results[name] = {}
            sides = [("direct", up_port, None, pids), ("bare", bare_port, bare_pids, bare_pids)]
            sides.append(("gateway", gw_port, pids, pids))
            for side, port, watched, metered in sides:
                with Meter(metered, upstream.pid) as meter:
                    results[name][side] = phase(port, watched)
                results[name][side].update(meter.result)
                time.sleep(0.5)
        results["rss_idle"] = procs.rss_bytes(pids)
        results["log_lines"] = _request_log_lines(folder / "gateway.log")
        return results
    finally:
        processes.stop_all()


def _request_log_lines(path: Path) -> int:
    """Request log lines the gateway wrote (proof that logging was on)."""
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.startswith(b'{"time"'))


def main() -> None:
    """Parse arguments, measure, print the table (and the raw results with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases (about 1.5 minutes)")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--keep", action="store_true", help="keep the logs folder")
    parser.add_argument(
        "--wait-quiet", type=float, default=60, help="wait up to this long for an idle machine"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/run.py needs wrk: apt-get install -y wrk")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    folder = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    try:
        results = measure(args, folder)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(report.table(results))


if __name__ == "__main__":
    main()
