"""queries: inbox, deadlines, stats and full-text search through the API over the rebuilt read models of
the whole dataset, at a fixed rate (p50/p99, open loop), then stepped up to the highest rate whose p99
stays within 50 ms."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.bench.common import CpuMeter, latency_ms, seconds
from tests.bench.loadgen import open_loop, summary
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


def make_call(ctx: Any, base_url: str, per_kind: dict[str, list[float]]) -> Any:
    offices = ctx.dataset.offices
    headers = {o: token_headers(ctx.settings, o, "clerk", "leader") for o in offices}
    kinds = list(QUERIES)
    urls = {
        (k, o): f"{base_url}/v1/offices/{o}/{QUERIES[k][0]}?{urlencode(QUERIES[k][1])}"
        for k in kinds
        for o in offices
    }

    async def call(http: aiohttp.ClientSession, n: int) -> int:
        kind, office = kinds[n % len(kinds)], offices[(n // len(kinds)) % len(offices)]
        t0 = time.monotonic()
        async with http.get(urls[(kind, office)], headers=headers[office]) as resp:
            await resp.read()
            per_kind[kind].append(time.monotonic() - t0)
            return resp.status

    return call


async def at_rate(ctx: Any, base_url: str, rate: float, duration: float) -> dict[str, Any]:
    per_kind: dict[str, list[float]] = defaultdict(list)
    call = make_call(ctx, base_url, per_kind)
    cpu = CpuMeter(pids=dict(ctx.server_pids)).start()
    run = await open_loop(call, rate, duration)
    return {
        "target_rate": rate,
        **summary(run),
        "late_starts": run.late,
        "not_sent": run.not_sent,
        "by_query": {k: latency_ms(v) for k, v in per_kind.items()},
        "cpu": cpu.stop(),
    }


async def run(ctx: Any, base_url: str) -> dict[str, Any]:
    await at_rate(ctx, base_url, 100, seconds(5, 2))  # warm caches and connections
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
        "fixed_rate": fixed,
        "p50_ms": fixed["p50_ms"],
        "p99_ms": fixed["p99_ms"],
        "highest_rate_p99_within_50ms": highest,
        "steps": steps,
        "parameters": {
            "queries": {k: f"GET /v1/offices/{{office}}/{p}?{urlencode(q)}" for k, (p, q) in QUERIES.items()},
            "mix": "round robin over the four queries and every office (tokens of that office)",
            "fixed_rate_per_s": FIXED_RATE,
            "load": "open loop: latency from when each request was due; at most 256 in flight",
            "read_models": "the rebuilt read models of the whole dataset",
        },
    }
