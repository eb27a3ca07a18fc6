"""`python -m tests.bench [NAME ...]` (what `make bench` runs): bring the stack up, run the benchmarks,
write tests/bench/results.json and results.md. BENCH_SCALE=0.05 for a quick smoke run.

Order: command_throughput and freshness on databases of their own; then the bulk loader writes the 1 M
event dataset into a fresh store, the relay publishes it (relay_throughput), the projection reads the
first 200,000 of its records into another fresh database (projection_throughput), the rebuild replays all
of it into the dataset's read models (rebuild), and the API serves those for queries and as_of; audit
verify walks the dataset's store."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from deploy.config.db import connect
from deploy.config.settings import Settings
from tests.bench import (
    bench_audit,
    bench_command,
    bench_fanout,
    bench_files,
    bench_freshness,
    bench_projection,
    bench_queries,
    bench_rebuild,
    bench_relay,
    bench_ui,
)
from tests.bench.common import (
    LOADGEN_CPU,
    SERVER_CPU,
    machine,
    now_iso,
    pin_self,
    scale,
    scaled,
    unpin_self,
    versions,
)
from tests.bench.dataset import Loaded, load, office_ids
from tests.bench.report import write
from tests.bench.system import Services, discard, fresh

ALL = [
    "command_throughput",
    "freshness",
    "relay_throughput",
    "projection_throughput",
    "rebuild",
    "queries",
    "audit",
    "ui_overview",
    "files",
    "fanout",
]
NEEDS_DATASET = {"relay_throughput", "projection_throughput", "rebuild", "queries", "audit", "ui_overview"}
LONG_EVENTS = 1000
CORES_NOTE = (
    f"Cores: servers under test (the API, the CRUD baseline) pinned to core {SERVER_CPU} with taskset, the "
    f"load generator (this process: aiohttp; for queries a lean HTTP/1.1 client) to core {LOADGEN_CPU}; "
    "PostgreSQL, Kafka, relay and processor unpinned; the rebuild and audit verify run unpinned in this "
    "process. Each result's `cpu.cores_busy` gives the CPU seconds per second of every component over its "
    "window (`machine` is the whole machine, other work included)."
)


@dataclass
class Dataset:
    settings: Settings
    loaded: Loaded
    offices: list[str]
    long_events: int = LONG_EVENTS


@dataclass
class Context:
    settings: Settings
    offices: list[str]
    dataset: Dataset | None = None
    server_pids: dict[str, int] = field(default_factory=dict)


async def build_dataset(ctx: Context) -> dict[str, Any]:
    settings, _ = await fresh(ctx.settings, "dataset")
    t0 = time.monotonic()
    loaded = await load(settings.dsn, ctx.offices, scaled(1_000_000, 5000), long_events=LONG_EVENTS)
    ctx.dataset = Dataset(settings, loaded, ctx.offices)
    return {
        "events": loaded.events,
        "documents": loaded.documents,
        "seconds": round(time.monotonic() - t0, 1),
        "steps_s": loaded.seconds,
        "record_bytes_avg": round(loaded.record_bytes_avg),
        "how": "tests/bench/dataset.py: decider-built workloads (10 templates over the past year, every "
        "office) copied with fresh ids, hash-chained, COPYed into the store with outbox rows and anchors",
    }


async def settle(settings: Settings) -> None:
    """Vacuum and analyse the dataset's database (its million-event store, the emptied outbox, the freshly
    rebuilt read models) before it is queried, as autovacuum does on a live system some minutes after a
    bulk load: without it, the queries and the audit shared the machine with autovacuum's first passes
    over a million rows (a core busy that no query asked for: the run of 2026-11-30 12:48 UTC)."""
    print("[bench] vacuuming the dataset's database (untimed) …", flush=True)
    t0 = time.monotonic()
    conn = await connect(settings.dsn)
    try:
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
    print(f"[bench] vacuumed in {time.monotonic() - t0:.0f}s", flush=True)


async def main(names: list[str]) -> int:
    base = Settings.from_env()
    started = time.monotonic()
    conn = await connect(base.dsn)
    try:
        pg_version = (await conn.fetchval("SHOW server_version")).split()[0]
    finally:
        await conn.close()
    meta = {
        "date": now_iso(),
        "machine": machine(),
        "versions": versions(base, pg_version),
        "scale": scale(),
        "cores_note": CORES_NOTE,
    }
    ctx = Context(base, office_ids(base))
    results: dict[str, Any] = {}
    failed = False

    async def step(name: str, fn: Any, *args: Any, pin: bool = True) -> None:
        nonlocal failed
        if name not in names:
            return
        print(f"[bench] {name} …", flush=True)
        (pin_self if pin else unpin_self)()
        t0 = time.monotonic()
        try:
            out = await fn(*args)
        except Exception as exc:
            traceback.print_exc()
            failed = True
            out = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            unpin_self()
        out.update(
            date=now_iso(),
            machine=meta["machine"],
            versions=meta["versions"],
            scale=scale(),
            bench_seconds=round(time.monotonic() - t0, 1),
        )
        results[name] = out
        print(f"[bench] {name}: {summary_line(out)}", flush=True)
        write(results, meta)

    await step("command_throughput", bench_command.run, ctx)
    await step("freshness", bench_freshness.run, ctx)
    await step("files", bench_files.run, ctx)
    await step("fanout", bench_fanout.run, ctx)
    if NEEDS_DATASET & set(names):
        print("[bench] building the dataset …", flush=True)
        meta["dataset"] = await build_dataset(ctx)
        print(f"[bench] dataset: {meta['dataset']}", flush=True)
        assert ctx.dataset is not None
        try:
            if "relay_throughput" in names:
                await step("relay_throughput", bench_relay.run, ctx, pin=False)
            else:  # the relay is what fills the dataset's topic
                await bench_relay.relay(ctx)
            await step("projection_throughput", bench_projection.run, ctx)
            if "rebuild" in names:
                await step("rebuild", bench_rebuild.run, ctx, pin=False)
            elif {"queries", "audit", "ui_overview"} & set(names):  # they read the rebuilt read models
                print("[bench] rebuilding the dataset's read models (untimed) …", flush=True)
                await bench_rebuild.run(ctx)
            if {"queries", "audit", "ui_overview"} & set(names):
                await settle(ctx.dataset.settings)
                services = Services(ctx.dataset.settings)
                try:
                    services.api()
                    ctx.server_pids = {"api": services.pid("api")}
                    await step("queries", bench_queries.run, ctx, services.base_url)
                    await step("audit", bench_audit.run, ctx, services.base_url)
                    await step("ui_overview", bench_ui.run, ctx, services.base_url)
                finally:
                    services.stop_all()
            for r in results.values():
                r.setdefault("dataset", meta["dataset"])
        finally:
            if not os.environ.get("BENCH_KEEP"):
                await discard(ctx.dataset.settings, base)
    meta["total_seconds"] = round(time.monotonic() - started)
    for r in results.values():
        r["cores"] = CORES_NOTE
    write(results, meta)
    print((bench_dir() / "results.md").read_text())
    return 1 if failed else 0


def bench_dir() -> Any:
    from tests.bench.common import HERE

    return HERE


def summary_line(out: dict[str, Any]) -> str:
    if "error" in out:
        return "FAILED " + out["error"]
    keys = (
        "actions_per_s",
        "events_per_s",
        "ratio_vs_crud",
        "ratio_vs_kafka_perf",
        "ratio_vs_raw",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "seconds",
        "highest_rate_p99_within_50ms",
        "upload_mib_per_s",
        "download_mib_per_s",
        "cp_mib_per_s",
    )
    return ", ".join(f"{k}={out[k]}" for k in keys if k in out)


if __name__ == "__main__":
    chosen = sys.argv[1:] or ALL
    unknown = set(chosen) - set(ALL)
    if unknown:
        sys.exit(f"unknown benchmark(s) {sorted(unknown)}; choose from {ALL}")
    from deploy.stack import Stack

    Stack(Settings.from_env()).up()  # idempotent; it runs its own event loop, so before ours
    sys.exit(asyncio.run(main(chosen)))
