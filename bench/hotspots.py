"""Profile the gateway's workers under load with py-spy: top functions by own and total time.

Starts the same fake upstream and gateway as bench/run.py, drives plain requests (wrk,
concurrency 32) or streams (bench/streams.py), records every worker with `py-spy record`
and prints the functions that take the most samples. py-spy is not a dependency of the
gateway: `pip install py-spy` into the venv first.

Run: `.venv/bin/python bench/hotspots.py [--streams 1000] [--seconds 10] [--top 40]`.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import procs  # noqa: E402
import run  # noqa: E402


def record(pids: list[int], seconds: int, folder: Path) -> list[Path]:
    """Start one `py-spy record` per pid (collapsed stacks); return the output paths."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    outputs, recorders = [], []
    for pid in pids:
        out = folder / f"pyspy-{pid}.txt"
        argv = [spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250"]
        argv += ["--format", "raw", "--nonblocking", "--output", str(out)]
        recorders.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        outputs.append(out)
    for recorder in recorders:
        recorder.wait(seconds + 60)
    return outputs


def summarise(paths: list[Path], top: int) -> str:
    """Functions by share of samples: own (leaf) time and total (anywhere on the stack)."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue  # py-spy read a frame while the worker was changing it
            frames = [_short(frame) for frame in stack.split(";")]
            n = int(count)
            samples += n
            own[frames[-1]] += n
            for frame in set(frames):
                total[frame] += n
    lines = [f"{samples} samples", "", "own %  function"]
    lines += [f"{100 * n / samples:5.1f}  {name}" for name, n in own.most_common(top)]
    lines += ["", "total %  function"]
    lines += [f"{100 * n / samples:5.1f}  {name}" for name, n in total.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`function (path/to/file.py:line)` without the line and the site-packages prefix."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "python3.11/", str(run.ROOT) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


def main() -> None:
    """Start the servers, load them while recording, print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--streams", type=int, default=0, help="profile N streams instead")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the raw py-spy stacks")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gateway-profile-"))
    processes = run.Processes(folder)
    try:
        up_port = procs.free_port()
        argv = [run.PYTHON, str(run.BENCH / "fake_upstream.py"), "--port", str(up_port)]
        processes.start("upstream", argv, dict(os.environ))
        procs.wait_port(up_port)
        gw_port, master = run.start_gateway(processes, up_port, args.workers)
        run.wrk(gw_port, 32, 2)
        workers = procs.tree(master)[1:]
        if args.streams:
            load = [run.PYTHON, str(run.BENCH / "streams.py"), "--port", str(gw_port)]
            load += ["--streams", str(args.streams), "--key", run.KEY, "--model", run.MODEL]
        else:
            load = ["wrk", "-t1", "-c32", f"-d{args.seconds + 1}s"]
            load += ["-s", str(run.BENCH / "post.lua"), f"http://127.0.0.1:{gw_port}"]
        env = {**os.environ, "BENCH_KEY": run.KEY, "BENCH_MODEL": run.MODEL}
        driver = subprocess.Popen(load, env=env, stdout=subprocess.DEVNULL)
        outputs = record(workers, args.seconds, folder)
        driver.wait(args.seconds + 120)
        print(summarise(outputs, args.top))
    finally:
        processes.stop_all()
        if args.keep:
            print(f"raw stacks kept in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
