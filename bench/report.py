"""The Markdown table of a benchmark run: direct, bare relay and gateway, beside the targets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MB = 1_000_000


def _rps(run: dict[str, Any]) -> float:
    return run["requests"] / (run["duration_us"] / 1e6)


def _wrk_failures(run: dict[str, Any]) -> int:
    keys = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    return sum(run[key] for key in keys)


def _stream_failures(run: dict[str, Any]) -> int:
    return sum(run["failures"].values())


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _pair(run: dict[str, Any], key: str) -> str:
    values = run[key]
    return f"{_ms(values['50'])} / {_ms(values['99'])}"


def _added(direct: float, gateway: float) -> str:
    return f"+{gateway - direct:.2f}"


def _check(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _cpu_ms(run: dict[str, Any]) -> str:
    return f"{run['server_cpu_s'] * 1000 / run['requests']:.3f}"


def _cpu_us_per_chunk(run: dict[str, Any]) -> str:
    return f"{run['server_cpu_s'] * 1e6 / max(1, run['chunks_received']):.0f}"


def _memory(run: dict[str, Any]) -> str:
    return f"{run['rss'] / MB:.0f} (PSS {run['pss'] / MB:.0f})"


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table with a header naming the machine and the settings."""
    tput, lat = results["throughput"], results["latency"]
    s10, many = results["streams_10"], results["streams_many"]
    sides = ("direct", "bare", "gateway")
    gw_rps = _rps(tput["gateway"])
    cpu_ms = tput["gateway"]["server_cpu_s"] * 1000 / tput["gateway"]["requests"]
    p50 = {side: lat[side]["p50_us"] / 1000 for side in sides}
    p99 = {side: lat[side]["p99_us"] / 1000 for side in sides}
    n = many["gateway"]["streams"]
    failures = {
        side: _wrk_failures(tput[side])
        + _wrk_failures(lat[side])
        + _stream_failures(s10[side])
        + _stream_failures(many[side])
        for side in sides
    }
    gap99 = many["direct"]["gap_ms"]["99"], many["gateway"]["gap_ms"]["99"]
    lag99 = many["direct"]["lag_ms"]["99"], many["gateway"]["lag_ms"]["99"]
    rss = many["gateway"]["rss"]

    def each(
        show: Callable[[dict[str, Any]], str], runs: dict[str, Any], direct: bool = True
    ) -> list[str]:
        return [show(runs[side]) if direct or side != "direct" else "" for side in sides]

    rows = [
        [
            "Requests/s, concurrency 32",
            *each(lambda run: f"{_rps(run):,.0f}", tput),
            "",
            "≥ 2,000",
            _check(gw_rps >= 2000),
        ],
        [
            "Latency p50, concurrency 1 (ms)",
            *(_ms(p50[side]) for side in sides),
            _added(p50["direct"], p50["gateway"]),
            "added ≤ 1.0",
            _check(p50["gateway"] - p50["direct"] <= 1.0),
        ],
        [
            "Latency p99, concurrency 1 (ms)",
            *(_ms(p99[side]) for side in sides),
            _added(p99["direct"], p99["gateway"]),
            "",
            "",
        ],
        [
            "CPU per request, server processes (ms)",
            *each(_cpu_ms, tput, direct=False),
            "",
            "≤ 0.7",
            _check(cpu_ms <= 0.7),
        ],
        [
            "Time to first token p50 / p99, 10 streams (ms)",
            *each(lambda run: _pair(run, "ttft_ms"), s10),
            _added(s10["direct"]["ttft_ms"]["50"], s10["gateway"]["ttft_ms"]["50"]),
            "",
            "",
        ],
        [
            f"Time to first token p50 / p99, {n:,} streams (ms)",
            *each(lambda run: _pair(run, "ttft_ms"), many),
            _added(many["direct"]["ttft_ms"]["50"], many["gateway"]["ttft_ms"]["50"]),
            "",
            "",
        ],
        [
            f"Gap between chunks p50 / p99, {n:,} streams (ms)",
            *each(lambda run: _pair(run, "gap_ms"), many),
            _added(*gap99),
            "upstream pace (20)",
            _check(gap99[1] - gap99[0] <= 5),
        ],
        [
            f"Chunk lag behind upstream schedule p50 / p99, {n:,} streams (ms)",
            *each(lambda run: _pair(run, "lag_ms"), many),
            _added(*lag99),
            "",
            "",
        ],
        [
            f"Stream length p50 / p99, {n:,} streams (ms)",
            *each(lambda run: _pair(run, "duration_ms"), many),
            "",
            "980",
            "",
        ],
        [
            "Streams flowing at once (peak)",
            *each(lambda run: f"{run['peak_flowing']:,}", many),
            "",
            f"{n:,}",
            _check(many["gateway"]["peak_flowing"] == n),
        ],
        [
            "Failures (all phases)",
            *(str(failures[side]) for side in sides),
            "",
            "0",
            _check(failures["gateway"] == 0),
        ],
        [
            f"RSS holding {n:,} streams (MB, master + workers)",
            *each(_memory, many, direct=False),
            "",
            "≤ 150",
            _check(rss <= 150 * MB),
        ],
        [
            f"CPU per streamed chunk, {n:,} streams (µs)",
            *each(_cpu_us_per_chunk, many, direct=False),
            "",
            "",
            "",
        ],
    ]
    head = ["Measure", "Direct", "Bare relay", "Through gateway", "Added", "Target", "Met"]
    others = max(
        run[side]["others_cpu_s"] / run[side]["wall_s"]
        for run in (tput, lat, s10, many)
        for side in sides
    )
    lines = [
        f"Machine: {results['machine']}; gateway: gunicorn, {results['workers']} gevent "
        f"workers, client keys and request log on"
        + (" (quick run)" if results.get("quick") else ""),
        f"Request log lines written: {results['log_lines']:,}; "
        f"gateway RSS at idle after the run: {results['rss_idle'] / MB:.0f} MB; "
        f"other processes on the machine used up to {others:.2f} cores during a phase",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
