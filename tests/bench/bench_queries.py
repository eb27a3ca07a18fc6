"""queries: inbox, deadlines, stats and full-text search through the API over the rebuilt read models of
the whole dataset: each kind alone for one client (p50/p99, closed loop), the mix at a fixed rate
(p50/p99, open loop), then stepped up to the highest rate whose p99 stays within 50 ms. The plans of the
list queries, `EXPLAIN (ANALYZE, BUFFERS)` over the same read models, go to tests/bench/plans/."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.bench.common import CpuMeter, latency_ms, seconds
from tests.bench.loadgen import Http1, closed_loop, open_loop, prepare_get, summary
from tests.bench.system import token_headers

FIXED_RATE = 300
STEPS = [25, 50, 100, 150, 200, 300, 450, 600, 800, 1000, 1300, 1600]  # up until p99 > 50 ms
LIMIT_P99_MS = 50.0
QUERIES = {
    "inbox": ("documents", {"kind": "incoming", "limit": 20}),
    "deadlines": ("deadlines", {"due_within": 3}),
    "stats": ("stats", {"from": "2026-01-01", "to": "2026-12-31"}),
    "search": ("documents", {"q": "quyết định", "limit": 20}),
}


def make_call(
    ctx: Any, base_url: str, per_kind: dict[str, list[float]], kinds: list[str] | None = None
) -> Any:
    offices = ctx.dataset.offices
    headers = {o: token_headers(ctx.settings, o, "clerk", "leader") for o in offices}
    kinds = kinds or list(QUERIES)
    requests = {
        (k, o): prepare_get(
            f"{base_url}/v1/offices/{o}/{QUERIES[k][0]}?{urlencode(QUERIES[k][1])}", headers[o]
        )
        for k in kinds
        for o in offices
    }

    async def call(http: Http1, n: int) -> int:
        kind, office = kinds[n % len(kinds)], offices[(n // len(kinds)) % len(offices)]
        t0 = time.monotonic()
        status, _ = await http.get(requests[(kind, office)])
        per_kind[kind].append(time.monotonic() - t0)
        return status

    return call


def client(base_url: str) -> Any:
    """The load generator's client: the lean keep-alive HTTP/1.1 one (loadgen.Http1)."""
    return lambda limit: Http1(base_url, limit)


async def at_rate(ctx: Any, base_url: str, rate: float, duration: float) -> dict[str, Any]:
    per_kind: dict[str, list[float]] = defaultdict(list)
    call = make_call(ctx, base_url, per_kind)
    cpu = CpuMeter(pids=dict(ctx.server_pids)).start()
    run = await open_loop(call, rate, duration, client=client(base_url))
    return {
        "target_rate": rate,
        **summary(run),
        "late_starts": run.late,
        "not_sent": run.not_sent,
        "by_query": {k: latency_ms(v) for k, v in per_kind.items()},
        "cpu": cpu.stop(),
    }


async def alone(ctx: Any, base_url: str, kind: str, duration: float) -> dict[str, Any]:
    """One client asking one kind of query over and over, round robin over the offices."""
    per_kind: dict[str, list[float]] = defaultdict(list)
    run = await closed_loop(make_call(ctx, base_url, per_kind, [kind]), 1, duration, client=client(base_url))
    return {**latency_ms(run.latencies), "statuses": dict(run.statuses)}


async def run(ctx: Any, base_url: str) -> dict[str, Any]:
    await at_rate(ctx, base_url, 100, seconds(5, 2))  # warm caches and connections
    one_client = {k: await alone(ctx, base_url, k, seconds(10, 3)) for k in QUERIES}
    plans = await explain_plans(ctx)
    fixed = await at_rate(ctx, base_url, FIXED_RATE, seconds(30, 5))
    steps, highest = [], None
    for rate in STEPS:
        r = await at_rate(ctx, base_url, rate, seconds(10, 4))
        steps.append({k: r[k] for k in ("target_rate", "rate_per_s", "p50_ms", "p99_ms", "statuses")})
        holds = r["p99_ms"] is not None and r["p99_ms"] <= LIMIT_P99_MS and r["rate_per_s"] >= 0.95 * rate
        if not holds:
            break
        highest = rate
    return {
        "one_client": one_client,
        "plans": plans,
        "fixed_rate": fixed,
        "p50_ms": fixed["p50_ms"],
        "p99_ms": fixed["p99_ms"],
        "highest_rate_p99_within_50ms": highest,
        "steps": steps,
        "parameters": {
            "queries": {k: f"GET /v1/offices/{{office}}/{p}?{urlencode(q)}" for k, (p, q) in QUERIES.items()},
            "mix": "round robin over the four queries and every office (tokens of that office)",
            "fixed_rate_per_s": FIXED_RATE,
            "load": "open loop: latency from when each request was due; at most 256 in flight; "
            "keep-alive HTTP/1.1 GETs with prepared bytes (tests/bench/loadgen.py Http1)",
            "read_models": "the rebuilt read models of the whole dataset",
        },
    }


class _Explaining:
    """A connection that answers each query a query function sends and keeps its plan, run with the same
    arguments: `EXPLAIN (ANALYZE, BUFFERS)` of exactly what the API runs."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.plans: list[str] = []

    async def fetch(self, sql: str, *args: Any) -> Any:
        plan = await self.conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *args)
        self.plans.append(sql.strip() + "\n\n" + "\n".join(r[0] for r in plan))
        return await self.conn.fetch(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


async def explain_plans(ctx: Any) -> dict[str, str]:
    """The plans of the list queries for the office with the most documents, written to plans/."""
    from datetime import date

    from deploy.config.db import connect
    from processors import queries
    from processors.queries import Viewer

    conn = await connect(ctx.dataset.settings.dsn)
    try:
        office = await conn.fetchval(
            "SELECT office_id FROM rm.listing GROUP BY office_id ORDER BY count(*) DESC LIMIT 1"
        )
        rows = await conn.fetchval("SELECT count(*) FROM rm.listing WHERE office_id = $1", office)
        viewer = Viewer(office, f"leader@{office}")
        calls = {
            "inbox": lambda c: queries.list_documents(c, office, viewer, kind="incoming", limit=20),
            "search": lambda c: queries.list_documents(c, office, viewer, q="quyết định", limit=20),
            "deadlines": lambda c: queries.deadlines(c, office, viewer, due_within=3),
            "stats": lambda c: queries.stats_in_one_read(
                c, office, date(2026, 1, 1), date(2026, 12, 31), viewer
            ),
        }
        written = {}
        PLANS.mkdir(exist_ok=True)
        for kind, call in calls.items():
            explaining = _Explaining(conn)
            await call(explaining)
            await call(explaining)  # the second run, with warm caches, is the one kept
            text = f"-- {kind}: office {office} ({rows:,} documents)\n\n" + "\n\n".join(
                explaining.plans[len(explaining.plans) // 2 :]
            )
            (PLANS / f"{kind}.txt").write_text(text + "\n")
            written[kind] = str((PLANS / f"{kind}.txt").relative_to(PLANS.parent.parent.parent))
        return written
    finally:
        await conn.close()


PLANS = Path(__file__).resolve().parent / "plans"
