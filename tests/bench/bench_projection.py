"""projection_throughput: events/s into every read model by the real faust worker, sustained over the
first N records of the dataset's topic, against a raw aiokafka consumer that reads the same records and
COPYs a row per event into Postgres (one transaction per batch, with its offsets)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.config.db import connect
from processors.topics import partitions
from tests.bench.common import CpuMeter, scaled
from tests.bench.system import Services
from tests.conftest import create_database, drop_database
from tests.toolkit.readmodels import applied
from tests.toolkit.waiting import wait_until

RAW_TABLE = """CREATE TABLE raw_events (
    document_id text NOT NULL, version integer NOT NULL, type text NOT NULL, office_id text,
    occurred_at timestamptz NOT NULL, body jsonb NOT NULL, PRIMARY KEY (document_id, version))"""
RAW_OFFSETS = """CREATE TABLE raw_offsets (topic text, partition integer, "offset" bigint,
    PRIMARY KEY (topic, partition))"""


async def projector(ctx: Any, count: int) -> dict[str, Any]:
    base = ctx.settings
    dsn = await create_database(base)
    services = Services(base.with_(pg_dsn=dsn, events_topic=ctx.dataset.settings.events_topic))
    conn = await connect(dsn)
    topic = services.settings.events_topic
    group = Group(base.bootstrap, services.group)
    try:
        started = time.monotonic()
        workers = services.processors(saga=False)
        group.members = len(workers)
        cpu = CpuMeter(pids={name: services.pid(name) for name in workers})
        marks: dict[str, Any] = {}

        async def progressed() -> bool:
            n = await applied(conn, topic)
            now = time.monotonic()
            if n > 0 and "first" not in marks and await asyncio.to_thread(group.settled):
                marks["first"], marks["first_n"] = now, await applied(conn, topic)
                cpu.start()
            return n >= count and "first" in marks

        await wait_until(progressed, within=1800, what=f"{count} events projected", every=0.1)
        done = time.monotonic()
        usage = cpu.stop()
        n = await applied(conn, topic)
        rows = {
            t: await conn.fetchval(f"SELECT count(*) FROM rm.{t}")
            for t in (
                "documents",
                "document_offices",
                "assignments",
                "incoming_register",
                "outgoing_register",
                "deliveries",
                "document_access",
            )
        }
        rows["feed"] = await conn.fetchval("SELECT count(*) FROM feed")
        rows["processor_tasks"] = await conn.fetchval("SELECT count(*) FROM processor_tasks")
    finally:
        group.close()
        services.stop_all()
        await conn.close()
        await drop_database(base, dsn)
    span = done - marks["first"]
    return {
        "events": n,
        "events_per_s": round((n - marks["first_n"]) / span, 0),
        "seconds": round(span, 1),
        "wall_s_including_start": round(done - started, 1),
        "workers": workers,
        "rows_written": rows,
        "cpu": usage,
    }


class Group:
    """Whether the workers' consumer group has all its members and their partitions (the rate window
    starts then: a worker that joined late took partitions away from the first, a start-up cost)."""

    def __init__(self, bootstrap: str, group: str, members: int = 1) -> None:
        from kafka.admin import KafkaAdminClient

        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="vanthu-bench")
        self.group, self.members = group, members

    def settled(self) -> bool:
        info = self.admin.describe_groups([self.group])[self.group]
        return bool(info["group_state"] == "Stable" and len(info["members"]) == self.members)

    def close(self) -> None:
        self.admin.close()


async def raw(ctx: Any, count: int) -> dict[str, Any]:
    base = ctx.settings
    topic = ctx.dataset.settings.events_topic
    dsn = await create_database(base)
    conn = await asyncpg.connect(dsn)  # asyncpg's own binary jsonb codec for COPY (the events as text)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=base.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    try:
        await conn.execute(RAW_TABLE)
        await conn.execute(RAW_OFFSETS)
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in await partitions(consumer, topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        cpu = CpuMeter().start()
        t0 = time.monotonic()
        done = 0
        while done < count:
            fetched = await consumer.getmany(timeout_ms=200, max_records=2000)
            rows, offsets = [], []
            for tp, records in fetched.items():
                for r in records:
                    e = json.loads(r.value)
                    rows.append(
                        (
                            e["stream_id"],
                            e["version"],
                            e["type"],
                            e["actor"]["office"],
                            _ts(e["occurred_at"]),
                            r.value.decode(),
                        )
                    )
                if records:
                    offsets.append((tp.topic, tp.partition, records[-1].offset))
            if not rows:
                continue
            async with conn.transaction():
                await conn.copy_records_to_table("raw_events", records=rows)
                await conn.executemany(
                    """INSERT INTO raw_offsets VALUES ($1, $2, $3)
                       ON CONFLICT (topic, partition) DO UPDATE SET "offset" = EXCLUDED."offset" """,
                    offsets,
                )
            done += len(rows)
        span = time.monotonic() - t0
        usage = cpu.stop()
    finally:
        await consumer.stop()
        await conn.close()
        await drop_database(base, dsn)
    return {
        "events": done,
        "events_per_s": round(done / span, 0),
        "seconds": round(span, 1),
        "what": "aiokafka getmany(2000) ▸ json.loads ▸ COPY one row per event (id, version, type, office, "
        "time, the event as jsonb) + offsets upsert, one transaction per batch, in-process",
        "cpu": usage,
    }


def _ts(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


async def run(ctx: Any) -> dict[str, Any]:
    count = min(scaled(200_000, 2000), ctx.dataset.loaded.events)
    ours = await projector(ctx, count)
    base = await raw(ctx, count)
    return {
        **ours,
        "baseline": base,
        "ratio_vs_raw": round(ours["events_per_s"] / base["events_per_s"], 3),
        "parameters": {
            "events": count,
            "topic": "the dataset's topic (written by the relay benchmark), 6 partitions",
            "processor": "python -m processors.worker (faust) as `make run` starts it: "
            f"{len(ours['workers'])} worker process(es) of one group (VANTHU_PROCESSOR_WORKERS), each with "
            f"{ctx.settings.processor_lanes} writer lane(s) (VANTHU_PROCESSOR_LANES), saga off (its tasks "
            "are still queued), feed rows and NOTIFYs on, default batch 2000 / within 5 ms",
            "rate_window": "from the first applied batch after the group has every worker and their "
            "partitions (start-up and the first rebalance excluded) to the Nth event",
        },
    }
