"""results.json and results.md: every figure next to its baseline, the ratio, the target and the machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.bench.common import HERE


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and v >= 100:
        v = round(v)
    if isinstance(v, int | float) and abs(v) >= 1000:
        return f"{v:,.0f}{unit}"
    return f"{v}{unit}"


def _ok(cond: bool | None) -> str:
    return "—" if cond is None else ("met" if cond else "**missed**")


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(benchmark, figure, baseline, ratio, target, met)."""
    out = []
    r = results.get("command_throughput")
    if r and "error" not in r:
        ratio = r.get("ratio_vs_crud")
        out.append(
            (
                "command_throughput (64 clients)",
                f"{_fmt(r['actions_per_s'])} actions/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms",
                f"CRUD {_fmt(r['baseline']['rate_per_s'])} req/s, p50 {r['baseline']['p50_ms']} ms, "
                f"p99 {r['baseline']['p99_ms']} ms",
                f"{ratio} vs CRUD",
                "ratio ≥ 0.6, p99 < 100 ms (issue 17)",
                _ok(ratio is not None and ratio >= 0.6 and r["p99_ms"] < 100),
            )
        )
    r = results.get("relay_throughput")
    if r and "error" not in r:
        out.append(
            (
                f"relay_throughput ({_fmt(r['events'])} events, {r['record_bytes_avg']} B)",
                f"{_fmt(r['events_per_s'])} events/s",
                f"ProducerPerformance {_fmt(r['baseline']['events_per_s'])} records/s",
                f"{r['ratio_vs_kafka_perf']} vs kafka perf",
                "≥ 30,000/s, ratio ≥ 0.1 (issue 17)",
                _ok(r["events_per_s"] >= 30_000 and r["ratio_vs_kafka_perf"] >= 0.1),
            )
        )
    r = results.get("projection_throughput")
    if r and "error" not in r:
        ok = r["events_per_s"] >= 10_000 and r["ratio_vs_raw"] >= 0.5
        out.append(
            (
                f"projection_throughput ({_fmt(r['events'])} events)",
                f"{_fmt(r['events_per_s'])} events/s",
                f"raw aiokafka+COPY {_fmt(r['baseline']['events_per_s'])} events/s",
                f"{r['ratio_vs_raw']} vs raw",
                "≥ 10,000/s and ratio ≥ 0.5",
                _ok(ok),
            )
        )
    r = results.get("freshness")
    if r and "error" not in r:
        ok = r["p50_ms"] is not None and r["p50_ms"] <= 20 and r["p99_ms"] <= 100
        rm, params = r["read_model"], r["parameters"]
        out.append(
            (
                f"freshness ({params['rate_per_s']:.0f} actions/s, {params['duration_s']:.0f} s)",
                f"SSE p50 {r['p50_ms']} / p99 {r['p99_ms']} / max {r['max_ms']} ms; "
                f"read model p50 {rm['p50_ms']} / p99 {rm['p99_ms']} / max {rm['max_ms']} ms",
                "—",
                "—",
                "p50 ≤ 20 ms, p99 ≤ 100 ms",
                _ok(ok),
            )
        )
    r = results.get("rebuild")
    if r and "error" not in r:
        out.append(
            (
                f"rebuild ({_fmt(r['events'])} events)",
                f"{r['seconds']} s, {_fmt(r['events_per_s'])} events/s",
                "—",
                "—",
                "1 M events ≤ 60 s (issue 18)",
                _ok(r["events_per_s"] >= 1_000_000 / 60),
            )
        )
    r = results.get("queries")
    if r and "error" not in r:
        by = _get(r, "fixed_rate", "by_query") or {}
        detail = ", ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in by.items())
        alone = r.get("one_client") or {}
        one = ", ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in alone.items())
        highest = r["highest_rate_p99_within_50ms"]
        met = (
            r["p99_ms"] is not None
            and r["p99_ms"] <= 20
            and bool(alone)
            and all(v["p50_ms"] is not None and v["p50_ms"] <= 3 for v in alone.values())
            and highest is not None
            and highest >= 1000
        )
        out.append(
            (
                "queries (300 req/s, mixed)",
                f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms ({detail} ms p50/p99); "
                f"one client: {one or '—'} ms p50/p99; "
                f"highest rate with p99 ≤ 50 ms: {_fmt(highest)}/s",
                "—",
                "—",
                "p99 ≤ 20 ms at 300/s; one client p50 ≤ 3 ms; ≥ 1,000/s with p99 ≤ 50 ms",
                _ok(met),
            )
        )
    r = results.get("audit")
    if r and "error" not in r:
        a, v = r["as_of"], r["verify"]
        out.append(
            (
                "audit as_of (1,000-event document)",
                f"p50 {a['p50_ms']} ms, p99 {a['p99_ms']} ms",
                "—",
                "—",
                "—",
                "—",
            )
        )
        out.append(
            (
                f"audit verify ({_fmt(v['events'])} events)",
                f"{_fmt(v['events_per_s'])} events/s ({v['seconds']} s)",
                "—",
                "—",
                "≥ 50,000/s",
                _ok(v["events_per_s"] >= 50_000),
            )
        )
    r = results.get("ui_overview")
    if r and "error" not in r:
        out.append(
            (
                f"ui_overview (office with {_fmt(r['documents'])} documents)",
                f"GET /ui p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms; "
                f"city view p50 {r['city_view']['p50_ms']} ms",
                "—",
                "—",
                f"< {r['target_ms']:.0f} ms",
                _ok(r["met"]),
            )
        )
    r = results.get("files")
    if r and "error" not in r:
        out.append(
            (
                f"files ({r['file_mib']} MiB, directory store)",
                f"upload {r['upload_mib_per_s']} MiB/s, download {r['download_mib_per_s']} MiB/s",
                f"cp {r['cp_mib_per_s']} MiB/s, cp + fsync {r['cp_fsync_mib_per_s']} MiB/s",
                f"{r['ratio_upload_vs_cp_fsync']} / {r['ratio_download_vs_cp_fsync']}",
                "—",
                "—",
            )
        )
    r = results.get("fanout")
    if r and "error" not in r:
        view = r["sender_document_view"]
        out.append(
            (
                f"fanout ({r['recipients']} recipients, {r['issues']} issues)",
                f"every copy readable p50 {_fmt(r['p50_ms'])} ms, p99 {_fmt(r['p99_ms'])} ms; sender's view "
                f"({view['deliveries']} deliveries) p50 {view['p50_ms']} ms, p99 {view['p99_ms']} ms",
                "—",
                "—",
                "p99 ≤ 5 s",
                _ok(r["met"]),
            )
        )
    for name, r in results.items():
        if isinstance(r, dict) and "error" in r:
            out.append((name, f"failed: {r['error'][:120]}", "—", "—", "—", "—"))
    return out


def markdown(results: dict[str, Any], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    lines = [
        f"Measured {meta['date']} on `{m['host']}`: {m['cores']} × {m['cpu']}, {m['memory_gb']} GB, "
        f"Linux {m['kernel']}; load average at start {m['load_average_at_start']}; "
        f"BENCH_SCALE={meta['scale']}; "
        f"Python {meta['versions'].get('python')}, PostgreSQL {meta['versions'].get('postgres', '?')}, "
        f"Kafka {meta['versions'].get('kafka')}; commit {meta['versions'].get('vanthu_commit', '?')}; "
        f"`make bench` took {meta.get('total_seconds', '?')} s.",
        "",
        "| benchmark | vanthu | baseline (same run) | ratio | target | |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows(results):
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    earlier = [
        f"{name} {r['date'][:10]}"
        for name, r in results.items()
        if r.get("date", "")[:10] != meta["date"][:10]
    ]
    if earlier:  # kept from earlier runs: each on its own date and machine (results.json has both)
        lines.append("Rows from earlier runs: " + ", ".join(earlier) + ".")
        lines.append("")
    lines.append(meta.get("cores_note", ""))
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], meta: dict[str, Any], folder: Path = HERE) -> None:
    """Write this run's results; a benchmark not run this time keeps its last figures (each result
    carries its own date and machine)."""
    try:
        earlier = json.loads((folder / "results.json").read_text())
    except (OSError, ValueError):
        earlier = {}
    results = {**{k: v for k, v in earlier.items() if k not in results}, **results}
    (folder / "results.json").write_text(
        json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n"
    )
    (folder / "results.md").write_text(markdown(results, meta))
