"""freshness: at a steady rate of actions in one office (open loop through the API), the time from each
2xx to the change appearing in the office's read model (the commit of the read-model transaction, seen by
LISTEN on the feed channel, which PostgreSQL delivers only after that commit) and on the office's SSE feed
as another user of the office sees it (GET /v1/offices/{office}/feed with the leader's token, while a
specialist acts). The whole system runs: relay, processor (with the saga) and API.

Another office never sees the acting office's document (a recipient sees only its own copy), so what an
office's screens show of a change is its own feed; until 2026-11-30 this benchmark observed a recipient
office's feed for the sender's original, which the visibility rule has forbidden since 0f7dd2a (it then
measured nothing)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp

from deploy.config.db import connect
from processors.feed import FEED_CHANNEL
from producers import store
from producers.hashing import GENESIS
from tests.bench.common import CpuMeter, latency_ms, scaled, seconds
from tests.bench.loadgen import open_loop, summary
from tests.bench.system import Services, discard, fresh, token_headers
from tests.processors.workload import story
from tests.toolkit.readmodels import applied
from tests.toolkit.waiting import wait_until
from tests.unit.lifecycle import create_body

OFFICE = "phuong-sai-gon"  # a commune-level committee of today's city
RATE = 200.0
DOCS = 200


def _task() -> dict[str, Any]:
    return create_body("task", OFFICE, title="Tổng hợp báo cáo chuyển đổi số trong các cơ quan Đảng")


async def seed(dsn: str, count: int) -> dict[str, int]:
    """`count` tasks of OFFICE assigned to its office unit (straight into the store)."""
    actions = [
        {
            "action": "assign",
            "lead": {"unit": f"{OFFICE}.van-phong"},
            "directive": "Tổng hợp, báo cáo",
            "deadline": {"working_days": 10},
        },
        {"action": "report_progress", "percent": 5, "note": "Bắt đầu"},
    ]
    versions = {}
    conn = await connect(dsn)
    try:
        for i in range(count):
            doc = str(uuid.uuid4())
            envelopes = story(doc, _task(), actions, number=i + 1)
            async with conn.transaction():
                await store.append(conn, envelopes, GENESIS)
            versions[doc] = envelopes[-1].version
    finally:
        await conn.close()
    return versions


async def quiet(conn: Any, topic: str) -> None:
    """Wait until the relay, processor and saga are done with the seeded documents."""
    seen: list[int] = []

    async def settled() -> bool:
        left = await conn.fetchval("SELECT count(*) FROM outbox")
        pending = await conn.fetchval("SELECT count(*) FROM processor_tasks WHERE status = 'pending'")
        total = await conn.fetchval("SELECT count(*) FROM events")
        n = await applied(conn, topic)
        seen.append(n)
        return left == 0 and pending == 0 and n == total and len(seen) > 3 and seen[-3] == n

    await wait_until(
        settled, within=180, what="the seeded documents to be delivered and projected", every=0.5
    )


async def run(ctx: Any) -> dict[str, Any]:
    settings, topic = await fresh(ctx.settings, "freshness")
    services = Services(settings)
    conn = await connect(settings.dsn)
    listener = await connect(settings.dsn)
    sse_task: asyncio.Task[None] | None = None
    try:
        docs = scaled(DOCS, 20)
        versions = await seed(settings.dsn, docs)
        services.relay()
        workers = services.processors(saga=True)
        services.api()
        await quiet(conn, topic)
        sent: dict[tuple[str, int], float] = {}
        in_rm: dict[tuple[str, int], float] = {}
        on_sse: dict[tuple[str, int], float] = {}

        # One notice per office and batch with its last seq: the office's new rows are read from the table.
        read = {
            "seq": await listener.fetchval(
                "SELECT coalesce(max(seq), 0) FROM feed WHERE office_id = $1", OFFICE
            )
        }
        reading = asyncio.Lock()
        reads: set[asyncio.Task[None]] = set()

        async def read_rows() -> None:
            async with reading:
                rows = await listener.fetch(
                    "SELECT seq, document_id, version FROM feed WHERE office_id = $1 AND seq > $2 "
                    "ORDER BY seq",
                    OFFICE,
                    read["seq"],
                )
                now = time.monotonic()
                for r in rows:
                    in_rm.setdefault((r["document_id"], r["version"]), now)
                    read["seq"] = r["seq"]

        def on_note(_c: object, _pid: int, _ch: str, payload: str) -> None:
            if json.loads(payload)["office_id"] == OFFICE:
                task = asyncio.get_running_loop().create_task(read_rows())
                reads.add(task)
                task.add_done_callback(reads.discard)

        await listener.add_listener(FEED_CHANNEL, on_note)
        connected = asyncio.Event()

        async def sse() -> None:
            headers = token_headers(settings, OFFICE, "leader")
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
                async with http.get(f"{services.base_url}/v1/offices/{OFFICE}/feed", headers=headers) as r:
                    assert r.status == 200, r.status
                    connected.set()
                    async for line in r.content:
                        if line.startswith(b"data: "):
                            item = json.loads(line[6:])
                            on_sse.setdefault((item["document_id"], item["version"]), time.monotonic())

        sse_task = asyncio.create_task(sse())
        await asyncio.wait_for(connected.wait(), 30)

        ids = list(versions)
        actor = token_headers(settings, OFFICE, "specialist")
        url = services.base_url + "/v1/documents/{}/actions"

        async def call(http: aiohttp.ClientSession, n: int) -> int:
            doc = ids[n % len(ids)]
            headers = {**actor, "If-Match": f'"{versions[doc]}"'}
            body = {"action": "report_progress", "percent": n % 100, "note": f"Báo cáo lần {n}"}
            async with http.post(url.format(doc), json=body, headers=headers) as resp:
                await resp.read()
                if resp.status in (200, 409):
                    version = int(resp.headers["ETag"].strip('"'))
                    if resp.status == 200:
                        sent[(doc, version)] = time.monotonic()
                    versions[doc] = version
                return resp.status

        cpu = CpuMeter(pids={n: services.pid(n) for n in ("api", "relay", *workers)}).start()
        duration = seconds(60, 10)
        load = await open_loop(call, RATE, duration)
        usage = cpu.stop()

        async def all_seen() -> bool:
            return all(k in in_rm and k in on_sse for k in sent)

        try:
            await wait_until(all_seen, within=30, what="every change on the feed", every=0.2)
        except AssertionError:
            pass
    finally:
        if sse_task is not None:
            sse_task.cancel()
        await listener.close()
        await conn.close()
        services.stop_all()
        await discard(settings, ctx.settings)
    rm_lat = [in_rm[k] - t for k, t in sent.items() if k in in_rm]
    sse_lat = [on_sse[k] - t for k, t in sent.items() if k in on_sse]
    return {
        "read_model": {
            **latency_ms(rm_lat),
            "missing": len(sent) - len(rm_lat),
            "seen_before_2xx": sum(1 for x in rm_lat if x < 0),
        },
        "sse": {
            **latency_ms(sse_lat),
            "missing": len(sent) - len(sse_lat),
            "seen_before_2xx": sum(1 for x in sse_lat if x < 0),
        },
        "p50_ms": latency_ms(sse_lat)["p50_ms"],
        "p99_ms": latency_ms(sse_lat)["p99_ms"],
        "max_ms": latency_ms(sse_lat)["max_ms"],
        "load": {**summary(load), "not_sent": load.not_sent},
        "cpu": usage,
        "parameters": {
            "rate_per_s": RATE,
            "duration_s": duration,
            "documents": docs,
            "action": f"report_progress on assigned tasks of {OFFICE} by a specialist (each document "
            "acted on about once a second, If-Match from the last answer)",
            "observed_in": f"{OFFICE}: LISTEN {FEED_CHANNEL} (read-model commit; the noticed feed rows read "
            "at once) and the office's SSE feed as its leader's screen reads it",
            "headline": "p50/p99/max are the SSE feed's (the later of the two)",
            "server": "API pinned to core 0; relay, processors, Postgres, Kafka unpinned; load generator, "
            "SSE client and listener pinned to core 1",
        },
    }
