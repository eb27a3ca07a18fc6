"""Rebuild: replay the events topic from its first record into a fresh schema with the live apply code,
while `rm` keeps serving, then swap the two atomically (rename in one transaction, under the lock every
live batch holds shared, after catching up to the live processor). The new schema's secondary indexes
are dropped before the load and built after it, before the catch-up and the swap. A large topic is loaded
by several processes at once, each replaying its share of the partitions (a document's events are all in
one partition, so each writes its own documents' rows; the statistics counters are moved by additions,
which commute), through the same apply code."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.config.db import connect
from processors.apply import BatchResult, Effects, apply_isolating, decode_ahead
from processors.documents import FEWER_COLLECTIONS, StateCache
from processors.records import from_message
from processors.schema import LIVE_SCHEMA, PROJECTION, SWAP_LOCK, schema_name
from processors.topics import partitions, replay_consumer

log = logging.getLogger(__name__)
FIRST_ANALYZE = 20_000  # events replayed before the new tables are first analyzed (then at 4x each time)
ROOT = Path(__file__).resolve().parent.parent  # where `python -m processors.rebuild` finds the package
PARALLEL_FROM = 10_000  # records from which the load is shared between processes (each costs ~1 s to start)


@dataclass
class Progress:
    done: int
    total: int
    elapsed: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def left(self) -> float | None:
        """Seconds left at the current rate."""
        return (self.total - self.done) / self.rate if self.rate > 0 else None

    def __str__(self) -> str:
        left = "?" if self.left is None else f"{self.left:.0f}s"
        return f"{self.done}/{self.total} events, {self.rate:,.0f}/s, {left} left"


@dataclass
class RebuildResult:
    schema: str  # where the rebuilt read models are now ("rm" once swapped)
    events: int
    seconds: float
    swapped: bool
    old_schema: str | None = None


class _Replay:
    def __init__(
        self,
        conn: asyncpg.Connection,
        consumer: AIOKafkaConsumer,
        tps: list[TopicPartition],
        schema: str,
        batch: int,
        progress: Callable[[Progress], None] | None,
        analyzes: bool = True,
    ) -> None:
        self.conn, self.consumer, self.tps, self.schema = conn, consumer, tps, schema
        self.batch, self.report, self.analyzes = batch, progress, analyzes
        self.cache = StateCache()
        self.done = 0
        self.total = 0
        self.started = time.monotonic()
        self._last_report = 0.0
        self._analyze_at = FIRST_ANALYZE

    async def until(self, end: Mapping[TopicPartition, int], effects: Effects = False) -> None:
        """Apply records until every partition's position reaches `end`: each batch is fetched and
        decoded while the one before it is written."""
        self.total = max(self.total, sum(end.values()))
        writing: asyncio.Task[BatchResult] | None = None
        size = 0
        try:
            while True:
                positions = {tp: await self.consumer.position(tp) for tp in self.tps}
                if all(positions[tp] >= end[tp] for tp in self.tps):
                    break
                fetched = await self.consumer.getmany(timeout_ms=200, max_records=self.batch)
                records = [from_message(r) for rs in fetched.values() for r in rs]
                if not records:
                    continue
                decoded = await decode_ahead(records)
                if writing is not None:
                    await self._written(writing, size)
                size = len(records)
                writing = asyncio.ensure_future(
                    apply_isolating(
                        self.conn,
                        records,
                        schema=self.schema,
                        effects=effects,
                        strict_offsets=False,
                        swap_lock=False,
                        cache=self.cache,
                        ahead=decoded,
                    )
                )
            if writing is not None:
                await self._written(writing, size)
                writing = None
        finally:
            if writing is not None:
                writing.cancel()
        self._progress(force=True)

    async def _written(self, writing: asyncio.Task[BatchResult], size: int) -> None:
        await writing
        self.done += size
        if self.analyzes and self.done >= self._analyze_at:
            await self.analyze()
            self._analyze_at = self.done * 4
        self._progress()

    async def analyze(self) -> None:
        """Statistics for the new tables. Never analyzed, they make the planner expect `document_id =
        ANY($1)` to match a large share of rows, so every batch's DELETE of a document's old rows
        scanned its whole table, and replaying slowed as the tables grew."""
        await self.conn.execute("ANALYZE " + ", ".join(f"{self.schema}.{t}" for t in COMPARED_TABLES))

    def _progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.report and (force or now - self._last_report >= 1.0):
            self._last_report = now
            self.report(Progress(self.done, self.total, now - self.started))


async def rebuild(
    dsn: str,
    bootstrap: str,
    topic: str,
    *,
    target: str | None = None,
    swap: bool = True,
    keep_old: bool = False,
    batch: int = 20_000,
    processes: int = 2,
    progress: Callable[[Progress], None] | None = None,
) -> RebuildResult:
    """Replay `topic` into a new schema; with `swap`, make it `rm` and drop (or keep) the old one. The
    load is shared by `processes` processes when the topic holds at least PARALLEL_FROM records."""
    stamp = time.strftime("%Y%m%d%H%M%S")
    build = schema_name(target or f"rm_build_{stamp}")
    started = time.monotonic()
    conn = await connect(dsn)
    consumer = replay_consumer(bootstrap)
    await consumer.start()
    thresholds = gc.get_threshold()
    gc.set_threshold(*FEWER_COLLECTIONS)  # in the caller's process too, until the rebuild is done
    try:
        await conn.execute("SELECT public.vanthu_rm_create($1)", build)
        # The processors' role writes what it swaps in as rm (whatever tables later migrations added).
        await conn.execute("SELECT public.vanthu_processor_schema_grants($1)", build)
        deferred = await _defer_indexes(conn, build)
        tps = [TopicPartition(topic, p) for p in await partitions(consumer, topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        replay = _Replay(conn, consumer, tps, build, batch, progress)
        end = await consumer.end_offsets(tps)
        begin = await consumer.beginning_offsets(tps)
        if processes > 1 and len(tps) > 1 and sum(end[tp] - begin[tp] for tp in tps) >= PARALLEL_FROM:
            replay.done = await _load_in_parallel(
                conn, dsn, bootstrap, build, tps, begin, end, batch, processes, replay
            )
            replay._progress(force=True)
            for tp in tps:
                consumer.seek(tp, end[tp])
        else:
            await replay.until(end)
        await _build_indexes(conn, dsn, deferred)
        await replay.analyze()  # the rebuilt read models go live with statistics
        if not swap:
            return RebuildResult(build, replay.done, time.monotonic() - started, False)
        # Catch up once more without the lock, so the part under it is short.
        await replay.until(await consumer.end_offsets(tps))
        old = schema_name(f"rm_old_{stamp}")
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", SWAP_LOCK)
            live = {
                (r["topic"], r["partition"]): r["offset"]
                for r in await conn.fetch(
                    f'SELECT topic, partition, "offset" FROM {LIVE_SCHEMA}.offsets WHERE projection = $1',
                    PROJECTION,
                )
            }
            # Records the live processor has not applied yet: they still owe their saga tasks and feed.
            await replay.until(await consumer.end_offsets(tps), effects=live)
            await conn.execute(f"ALTER SCHEMA {LIVE_SCHEMA} RENAME TO {old}")
            await conn.execute(f"ALTER SCHEMA {build} RENAME TO {LIVE_SCHEMA}")
        if not keep_old:
            await conn.execute(f"DROP SCHEMA {old} CASCADE")
        seconds = time.monotonic() - started
        return RebuildResult(LIVE_SCHEMA, replay.done, seconds, True, old if keep_old else None)
    finally:
        gc.set_threshold(*thresholds)
        await consumer.stop()
        await conn.close()


async def _load_in_parallel(
    conn: asyncpg.Connection,
    dsn: str,
    bootstrap: str,
    schema: str,
    tps: list[TopicPartition],
    begin: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
    batch: int,
    processes: int,
    replay: _Replay,
) -> int:
    """Load the records before `end` with `processes` processes (`python -m processors.rebuild`),
    partitions dealt out in turn; progress is read from the new schema's offsets meanwhile. Returns how
    many records were loaded."""
    shares = [tps[n::processes] for n in range(processes) if tps[n::processes]]
    replay.total = max(replay.total, sum(end[tp] - begin[tp] for tp in tps))
    children = []
    try:
        for n, share in enumerate(shares):
            task = {
                "dsn": dsn,
                "bootstrap": bootstrap,
                "schema": schema,
                "share": [(tp.topic, tp.partition, end[tp]) for tp in share],
                "batch": batch,
                "analyzes": n == 0,  # one of them analyzes the new tables as they grow
            }
            children.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "processors.rebuild",
                    json.dumps(task),
                    stdout=asyncio.subprocess.PIPE,
                    cwd=ROOT,
                )
            )
        outputs = asyncio.gather(*(child.communicate() for child in children))
        while not outputs.done():
            await asyncio.wait([outputs], timeout=1.0)
            stored = await conn.fetch(
                f'SELECT topic, partition, "offset" FROM {schema}.offsets WHERE projection = $1', PROJECTION
            )
            replay.done = sum(
                r["offset"] + 1 - begin.get(TopicPartition(r["topic"], r["partition"]), 0) for r in stored
            )
            replay._progress()
        results = await outputs
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    failed = [child.returncode for child in children if child.returncode != 0]
    if failed:
        raise RuntimeError(f"a rebuild loader failed (exit {failed[0]}); the new schema is incomplete")
    return sum(int(out.decode().split()[-1]) for out, _ in results)


def _load_share(task: Mapping[str, Any]) -> int:
    """In a process of its own: replay these partitions from their first record up to their ends. A
    loader lives for one load and what it allocates per batch is freed by reference counting, so its
    cyclic collector is off: even every 50,000 allocations, its young collections walked each batch's
    new states and took 15-20% of the loader's CPU (100,000 bench events replayed in batches of
    20,000: 90 against 73 µs of Python per event, the same peak memory)."""
    gc.disable()
    return asyncio.run(_replay_share(task))


async def _replay_share(task: Mapping[str, Any]) -> int:
    conn = await connect(task["dsn"])
    consumer = replay_consumer(task["bootstrap"])
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t, p, _ in task["share"]]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        replay = _Replay(conn, consumer, tps, task["schema"], task["batch"], None, task["analyzes"])
        await replay.until({TopicPartition(t, p): e for t, p, e in task["share"]})
        return replay.done
    finally:
        await consumer.stop()
        await conn.close()


async def _build_indexes(conn: asyncpg.Connection, dsn: str, definitions: list[str], ways: int = 2) -> None:
    """Build the deferred indexes, each once from the loaded rows (not grown row by row), `ways` at a
    time on connections of their own beside `conn` (one build keeps one core busy)."""
    if len(definitions) < 2 or ways < 2:
        for definition in definitions:
            await conn.execute(definition)
        return
    others = [await connect(dsn) for _ in range(ways - 1)]
    try:
        shares = [definitions[n::ways] for n in range(ways)]

        async def build(c: asyncpg.Connection, share: list[str]) -> None:
            for definition in share:
                await c.execute(definition)

        await asyncio.gather(*(build(c, share) for c, share in zip([conn, *others], shares, strict=True)))
    finally:
        for c in others:
            await c.close()


async def _defer_indexes(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Drop the new schema's secondary indexes (none the writer reads by: it finds rows by their primary
    keys) and return their definitions, to build each once after the load."""
    rows = await conn.fetch(
        """SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
           FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND NOT i.indisunique AND NOT i.indisprimary AND NOT i.indisexclusion
           ORDER BY 1""",
        schema,
    )
    for r in rows:
        await conn.execute(f"DROP INDEX {r['name']}")
    return [r["definition"] for r in rows]


COMPARED_TABLES: dict[str, str] = {
    # table: the columns compared (what a pure function of the log must reproduce)
    "documents": "*",
    "document_offices": "*",
    "assignments": "*",
    "incoming_register": "*",
    "outgoing_register": "*",
    "deliveries": "*",
    "document_access": "*",
    "listing": "*",
    "calendar_publications": "*",
    "calendar_days": "*",
    "stat_counts": "*",
    "offsets": 'projection, topic, partition, "offset", last_occurred_at',
    "dead_letters": 'topic, partition, "offset", document_id, version, event_type, reason, key, value',
}


async def differences(conn: asyncpg.Connection, a: str, b: str) -> dict[str, int]:
    """Rows in one schema's read models and not the other's, per table (open dead letters only)."""
    out: dict[str, int] = {}
    a, b = schema_name(a), schema_name(b)
    for table, cols in COMPARED_TABLES.items():
        where = " WHERE status = 'open'" if table == "dead_letters" else ""
        count = await conn.fetchval(
            f"""SELECT (SELECT count(*) FROM (SELECT {cols} FROM {a}.{table}{where}
                                              EXCEPT ALL SELECT {cols} FROM {b}.{table}{where}) x)
                     + (SELECT count(*) FROM (SELECT {cols} FROM {b}.{table}{where}
                                              EXCEPT ALL SELECT {cols} FROM {a}.{table}{where}) y)"""
        )
        if count:
            out[table] = int(count)
    return out


if __name__ == "__main__":  # one of a rebuild's loaders: its task as JSON; prints how many it loaded
    print(_load_share(json.loads(sys.argv[1])))
