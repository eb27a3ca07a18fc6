"""audit: `as_of` of a document with 1,000 events through the API (p50/p99), and `audit verify`
(producers.audit.verify, what `vanthu audit verify` runs) over the whole dataset (events/s)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import aiohttp

from deploy.config.db import connect
from producers.audit import verify
from tests.bench.common import CpuMeter, latency_ms, scaled
from tests.bench.system import token_headers


async def as_of(ctx: Any, base_url: str) -> dict[str, Any]:
    ds = ctx.dataset
    doc, start = ds.loaded.long_document, ds.loaded.long_start
    n = ds.long_events
    headers = token_headers(ctx.settings, "tu-hcm", "clerk", "leader")
    moment = (start + timedelta(minutes=n, seconds=30)).isoformat()  # after the last event: all folded
    url = f"{base_url}/v1/documents/{doc}"
    times: list[float] = []
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(url, params={"as_of": moment}) as resp:  # warm up; check it folds them all
            body = await resp.json()
            assert resp.status == 200 and body["version"] == n, (resp.status, body)
        for _ in range(scaled(300, 30)):
            t0 = time.monotonic()
            async with http.get(url, params={"as_of": moment}) as resp:
                await resp.read()
                assert resp.status == 200
            times.append(time.monotonic() - t0)
    return {"events_in_document": n, **latency_ms(times), "client": "one client, sequential requests"}


async def audit_verify(ctx: Any) -> dict[str, Any]:
    conn = await connect(ctx.dataset.settings.app_dsn)
    try:
        cpu = CpuMeter().start()
        report = await verify(conn)
        usage = cpu.stop()
    finally:
        await conn.close()
    assert report.ok, report.to_dict()
    return {
        "events": report.events,
        "documents": report.documents,
        "anchors": report.anchors,
        "seconds": round(report.seconds, 1),
        "events_per_s": round(report.events / report.seconds, 0),
        "cpu": usage,
    }


async def run(ctx: Any, base_url: str) -> dict[str, Any]:
    return {
        "as_of": await as_of(ctx, base_url),
        "verify": await audit_verify(ctx),
        "parameters": {
            "as_of": "GET /v1/documents/{id}?as_of=<after its last event> on a task with 1,000 events "
            "(folded from its events; the API pinned to one core)",
            "verify": "producers.audit.verify in the benchmark process over every event of the dataset "
            "(hash, chain, anchors of 1,000 positions)",
            "bulk_loaded": "tests/bench/dataset.py",
        },
    }
