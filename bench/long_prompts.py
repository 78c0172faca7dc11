"""Memory each open stream holds, with a short and with a long prompt: worker RSS per stream.

For each prompt size a fresh gateway (as bench/run.py starts it) fronts a fake upstream whose
streams last about 20 seconds (40 chunks 0.5 s apart). N streams open at once; once every one
has had time to start, the workers' RSS is read, and the streams must then all complete. A
stream should hold about the same memory whatever its prompt: the prompt goes upstream and is
let go, it does not stay in memory for as long as the answer streams.

Run: `.venv/bin/python bench/long_prompts.py [--streams 300] [--prompt-bytes 200000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs  # noqa: E402
import run  # noqa: E402

CHUNKS, INTERVAL = 40, 0.5
MB = 2**20


def held(streams: int, prompt_bytes: int, settle: float) -> dict:
    """Workers' RSS idle and with `streams` open streams of `prompt_bytes` prompts."""
    processes = run.Processes(Path(tempfile.mkdtemp(prefix="gateway-prompts-")))
    try:
        up_port = procs.free_port()
        pace = ["--chunks", str(CHUNKS), "--interval", str(INTERVAL)]
        up_argv = [run.PYTHON, str(run.BENCH / "fake_upstream.py"), "--port", str(up_port)]
        processes.start("upstream", up_argv + pace, dict(os.environ))
        procs.wait_port(up_port)
        port, master = run.start_gateway(processes, up_port, 2)
        workers = procs.tree(master)[1:]
        run.streams(port, 10)  # warm-up: imports, pools, caches
        idle = procs.rss_bytes(workers)
        argv = [run.PYTHON, str(run.BENCH / "streams.py"), "--port", str(port)]
        argv += ["--streams", str(streams), "--key", run.KEY, "--model", run.MODEL]
        argv += ["--prompt-bytes", str(prompt_bytes), "--timeout", "120", *pace]
        load = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        time.sleep(settle)
        rss = procs.rss_bytes(workers)
        out, _ = load.communicate(timeout=180)
        result = json.loads(out.strip().splitlines()[-1])
        return {"idle": idle, "held": rss, "ok": result["ok"], "failures": result["failures"]}
    finally:
        processes.stop_all()


def main() -> None:
    """Measure a short and a long prompt; print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--prompt-bytes", type=int, default=200_000)
    parser.add_argument("--settle", type=float, default=8.0, help="seconds before reading RSS")
    args = parser.parse_args()
    rows = ["| Prompt | Streams completed | Workers' RSS idle → holding (MB) | Per stream (KB) |"]
    rows.append("|---|---:|---:|---:|")
    for size in (0, args.prompt_bytes):
        got = held(args.streams, size, args.settle)
        per_stream = (got["held"] - got["idle"]) / 1024 / args.streams
        label = f"{size // 1000} KB" if size else "short (35 bytes)"
        completed = f"{got['ok']} of {args.streams}" + (
            f" (failures {got['failures']})" if got["failures"] else ""
        )
        span = f"{got['idle'] / MB:.0f} → {got['held'] / MB:.0f}"
        rows.append(f"| {label} | {completed} | {span} | {per_stream:.0f} |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
