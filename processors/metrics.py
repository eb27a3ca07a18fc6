"""Projection health for /metrics and /readyz: per-partition lag and the age of the newest applied event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.config.db import Conn
from processors.apply import UNBLOCKING
from processors.schema import LIVE_SCHEMA, PROJECTION
from processors.topics import partitions


@dataclass(frozen=True)
class PartitionLag:
    partition: int
    end_offset: int  # the offset the next record will get
    applied_offset: int  # last offset in the read models (-1: none)

    @property
    def lag(self) -> int:
        return max(0, self.end_offset - self.applied_offset - 1)


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's end offset (one short-lived client; the API may cache the answer briefly)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions(consumer, topic)]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def partition_lag(conn: Conn, topic: str, ends: dict[int, int]) -> list[PartitionLag]:
    """Lag of the read models behind each partition's end (from `end_offsets`)."""
    rows = await conn.fetch(
        f'SELECT partition, "offset" FROM {LIVE_SCHEMA}.offsets WHERE projection = $1 AND topic = $2',
        PROJECTION,
        topic,
    )
    applied = {r["partition"]: r["offset"] for r in rows}
    return [PartitionLag(p, end, applied.get(p, -1)) for p, end in sorted(ends.items())]


async def newest_event_age(conn: Conn, now: datetime | None = None) -> float | None:
    """Seconds since the newest applied event occurred (None before the first)."""
    newest = await conn.fetchval(
        f"SELECT max(last_occurred_at) FROM {LIVE_SCHEMA}.offsets WHERE projection = $1", PROJECTION
    )
    if newest is None:
        return None
    age: float = ((now or datetime.now(UTC)) - newest).total_seconds()
    return age


async def open_dead_letters(conn: Conn) -> int:
    return int(await conn.fetchval(f"SELECT count(*) FROM {LIVE_SCHEMA}.dead_letters WHERE status = 'open'"))


async def pending_tasks(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM public.processor_tasks WHERE status = 'pending'"))


async def blocked_documents(conn: Conn) -> int:
    """Documents whose later events wait behind an open dead letter (park, skip or retry frees them)."""
    return int(
        await conn.fetchval(
            f"""SELECT count(DISTINCT document_id) FROM {LIVE_SCHEMA}.dead_letters
                WHERE status = 'open' AND reason NOT IN ({UNBLOCKING})"""
        )
    )


async def failed_tasks(conn: Conn) -> int:
    """Saga tasks that failed for good and wait for `vanthu deadletters redrive`."""
    return int(await conn.fetchval("SELECT count(*) FROM public.processor_tasks WHERE status = 'failed'"))
