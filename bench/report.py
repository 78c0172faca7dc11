"""The Markdown table of a benchmark run: direct and through the gateway, beside the targets."""

from __future__ import annotations

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


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table with a header naming the machine and the settings."""
    tput, lat = results["throughput"], results["latency"]
    s10, many = results["streams_10"], results["streams_many"]
    gw_rps = _rps(tput["gateway"])
    cpu_ms = tput["gateway"]["gateway_cpu_s"] * 1000 / tput["gateway"]["requests"]
    p50 = (lat["direct"]["p50_us"] / 1000, lat["gateway"]["p50_us"] / 1000)
    p99 = (lat["direct"]["p99_us"] / 1000, lat["gateway"]["p99_us"] / 1000)
    n = many["gateway"]["streams"]
    chunks = max(1, many["gateway"]["chunks_received"])
    failures = {
        side: _wrk_failures(tput[side])
        + _wrk_failures(lat[side])
        + _stream_failures(s10[side])
        + _stream_failures(many[side])
        for side in ("direct", "gateway")
    }
    gap99 = (many["direct"]["gap_ms"]["99"], many["gateway"]["gap_ms"]["99"])
    lag99 = (many["direct"]["lag_ms"]["99"], many["gateway"]["lag_ms"]["99"])
    rss = many["gateway"]["rss"]
    rows = [
        (
            "Requests/s, concurrency 32",
            f"{_rps(tput['direct']):,.0f}",
            f"{gw_rps:,.0f}",
            "",
            "≥ 2,000",
            _check(gw_rps >= 2000),
        ),
        (
            "Latency p50, concurrency 1 (ms)",
            _ms(p50[0]),
            _ms(p50[1]),
            _added(*p50),
            "added ≤ 1.0",
            _check(p50[1] - p50[0] <= 1.0),
        ),
        ("Latency p99, concurrency 1 (ms)", _ms(p99[0]), _ms(p99[1]), _added(*p99), "", ""),
        (
            "CPU per request, gateway processes (ms)",
            "",
            f"{cpu_ms:.3f}",
            "",
            "≤ 0.7",
            _check(cpu_ms <= 0.7),
        ),
        (
            "Time to first token p50 / p99, 10 streams (ms)",
            _pair(s10["direct"], "ttft_ms"),
            _pair(s10["gateway"], "ttft_ms"),
            _added(s10["direct"]["ttft_ms"]["50"], s10["gateway"]["ttft_ms"]["50"]),
            "",
            "",
        ),
        (
            f"Time to first token p50 / p99, {n:,} streams (ms)",
            _pair(many["direct"], "ttft_ms"),
            _pair(many["gateway"], "ttft_ms"),
            _added(many["direct"]["ttft_ms"]["50"], many["gateway"]["ttft_ms"]["50"]),
            "",
            "",
        ),
        (
            f"Gap between chunks p50 / p99, {n:,} streams (ms)",
            _pair(many["direct"], "gap_ms"),
            _pair(many["gateway"], "gap_ms"),
            _added(*gap99),
            "upstream pace (20)",
            _check(gap99[1] - gap99[0] <= 5),
        ),
        (
            f"Chunk lag behind upstream schedule p50 / p99, {n:,} streams (ms)",
            _pair(many["direct"], "lag_ms"),
            _pair(many["gateway"], "lag_ms"),
            _added(*lag99),
            "",
            "",
        ),
        (
            f"Stream length p50 / p99, {n:,} streams (ms)",
            _pair(many["direct"], "duration_ms"),
            _pair(many["gateway"], "duration_ms"),
            "",
            "980",
            "",
        ),
        (
            "Streams flowing at once (peak)",
            f"{many['direct']['peak_flowing']:,}",
            f"{many['gateway']['peak_flowing']:,}",
            "",
            f"{n:,}",
            _check(many["gateway"]["peak_flowing"] == n),
        ),
        (
            "Failures (all phases)",
            str(failures["direct"]),
            str(failures["gateway"]),
            "",
            "0",
            _check(failures["gateway"] == 0),
        ),
        (
            f"Gateway RSS holding {n:,} streams (MB, master + workers)",
            "",
            f"{rss / MB:.0f} (PSS {many['gateway']['pss'] / MB:.0f})",
            "",
            "≤ 150",
            _check(rss <= 150 * MB),
        ),
        (
            f"Gateway CPU per streamed chunk, {n:,} streams (µs)",
            "",
            f"{many['gateway']['gateway_cpu_s'] * 1e6 / chunks:.0f}",
            "",
            "",
            "",
        ),
    ]
    head = ["Measure", "Direct", "Through gateway", "Added", "Target", "Met"]
    others = max(
        run[side]["others_cpu_s"] / run[side]["wall_s"]
        for run in (tput, lat, s10, many)
        for side in ("direct", "gateway")
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
