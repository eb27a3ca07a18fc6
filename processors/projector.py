"""The live projector: what the faust agent calls for each batch, plus the saga and chaser loops."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from deploy.config.db import create_pool, keep_session
from processors import chaser, saga
from processors.apply import TRANSIENT_ERRORS, BatchResult, Decoded, apply_isolating, decode_ahead
from processors.config import ProcessorConfig
from processors.documents import StateCache
from processors.records import Record, TopicPartition
from processors.schema import LIVE_SCHEMA, PROJECTION
from processors.signatures import load_roots
from processors.writeside import WriteSide
from producers.files import collect_unattached

log = logging.getLogger(__name__)
Seek = Callable[[TopicPartition, int], Awaitable[None]]
_RETRYABLE = TRANSIENT_ERRORS
PARTS_PER_LANE = 8  # parts (of up to the batch size) decoded ahead per lane, on average
Part = tuple[list[Record], Decoded, list[Any], int | None]  # records, decoded, acks, group generation


class Projector:
    """Applies batches exactly once in effect and keeps faust's position honest."""

    def __init__(self, config: ProcessorConfig, seek: Seek | None = None) -> None:
        self.config = config
        self.seek = seek
        self.cache = StateCache()
        self.pool: asyncpg.Pool | None = None  # the processors' own role
        self.apply_pool: asyncpg.Pool | None = None  # the writer's one connection (same role)
        self.write_pool: asyncpg.Pool | None = None  # the services' role, for the saga and the chaser
        self._write_lock = asyncio.Lock()  # the saga and the chaser start at once: one pool for both
        self.saga_wakeup = asyncio.Event()
        self.applied = 0
        self.batches = 0
        self._sought: dict[TopicPartition, tuple[int, float, int]] = {}  # target, when, how often
        # Batches from the agent wait here while a transaction runs, and the next transaction takes all of
        # them: small batches when idle (latency), large ones under load (rate).
        self._reported, self._report_applied, self._report_batches, self._busy = time.monotonic(), 0, 0, 0.0
        # One queue and writer per lane: a lane applies the partitions p with p % lanes == its number on
        # a connection of its own, so one lane's statements run in PostgreSQL while another folds and
        # builds rows in this thread. A document's events are in one partition, so in one lane; the lanes
        # take the shared rows (counters, feed counters) in one order, last in their transactions.
        # The queues together hold about PARTS_PER_LANE parts decoded ahead per lane, and the agent waits
        # for room only while no lane has run dry (see `_room_for_more`).
        lanes = max(1, config.lanes)
        self.queues: list[asyncio.Queue[Part]] = [asyncio.Queue() for _ in range(lanes)]
        self._taken = asyncio.Event()  # a writer took a part from its queue
        self.generation: int | None = None  # the consumer group's generation of the current assignment

    async def start(self) -> asyncpg.Pool:
        if self.pool is None:
            self.pool = await create_pool(self.config.dsn, min_size=1, max_size=8)
        return self.pool

    async def write_side(self, with_files: bool = False) -> WriteSide:
        """The write side the saga and the chaser record through, as the services' role."""
        async with self._write_lock:
            if self.write_pool is None:
                self.write_pool = await create_pool(self.config.write_dsn, min_size=1, max_size=8)
        if not with_files:
            return WriteSide(self.config.offices, self.write_pool)
        roots = tuple(load_roots(self.config.trust_roots))
        return WriteSide(self.config.offices, self.write_pool, self.config.files, roots)

    def on_assigned(self, assigned: Iterable[TopicPartition], generation: int | None = None) -> None:
        """A new assignment: forget seeks in flight; the first batch checks each partition's position.

        Parts fetched in an earlier generation of the group are dropped, queued or not yet queued (see
        `current`): after a rebalance faust positions every partition this worker holds at its
        committed offset and `reposition` at the stored offset + 1, so what was fetched before and not
        yet applied comes again, and a partition given to another worker is that worker's. Applying
        those parts anyway (the lanes hold up to 2 * PARTS_PER_LANE parts of the batch size each) made
        a worker that lost partitions spend seconds writing records the other worker was writing too,
        each waiting for the other's offsets lock: with two workers, the one that joined first applied
        at about half the rate of the other for the rest of the projection benchmark (session 9)."""
        for tp in assigned:
            self._sought.pop(tp, None)
        if generation is not None:
            self.generation = generation
            for queue in self.queues:
                kept = [part for part in _drain(queue) if self.current(part[3])]
                for part in kept:
                    queue.put_nowait(part)
            self._taken.set()  # room, perhaps: the agent may go on

    def current(self, generation: int | None) -> bool:
        """Whether records fetched in `generation` of the group may be applied (None: not known)."""
        return generation is None or self.generation is None or generation == self.generation

    def lane(self, partition: int) -> int:
        """The writer that applies this partition's records."""
        return partition % len(self.queues)

    async def submit(
        self, records: list[Record], acks: list[Any], lane: int = 0, generation: int | None = None
    ) -> None:
        """Decode records (while the writers' transactions run) and queue them for the writer of `lane`
        (all of them of its partitions, fetched in `generation` of the group); `acks` (faust events) are
        acknowledged once they are committed."""
        decoded = await decode_ahead(records)
        if self.current(generation):
            self.queues[lane].put_nowait((records, decoded, acks, generation))
        while not self._room_for_more():
            self._taken.clear()
            await self._taken.wait()

    def _room_for_more(self) -> bool:
        """Whether the agent may take more records: the queues hold fewer than PARTS_PER_LANE parts per
        lane, or up to twice that while a lane has nothing queued. The bound is on all the queues, not on
        each: with a bound per lane the agent waited for room in one lane's full queue, with records of
        every lane unfetched behind it, while the other lane's writer ran dry (they took turns starving,
        about a fifth of the worker's time; session 8)."""
        queued = sum(q.qsize() for q in self.queues)
        limit = PARTS_PER_LANE * len(self.queues)
        return queued < limit or (queued < 2 * limit and any(q.empty() for q in self.queues))

    async def run_writers(self) -> None:
        """Every lane's writer; the first that fails ends the process (see run_writer)."""
        await asyncio.gather(*(self.run_writer(lane) for lane in range(len(self.queues))))

    async def run_writer(self, lane: int = 0) -> None:
        """Apply the lane's queued batches, merged up to the batch size, then acknowledge them to faust."""
        while True:
            records, decoded, acks = await self.take(lane)
            started = time.monotonic()
            try:
                await self.process(records, decoded)
            except Exception:
                log.exception("the read models could not be written; exiting, a restart resumes cleanly")
                os._exit(70)  # the stored offsets make a hard stop safe; faust is not told these were done
            for event in acks:
                event.ack()
            self._busy += time.monotonic() - started
            self._report()

    async def take(self, lane: int) -> tuple[list[Record], Decoded, list[Any]]:
        """The lane's next batch: the parts queued for it (waiting for one), merged up to the batch size;
        parts of an earlier generation of the group are dropped (see `on_assigned`)."""
        queue = self.queues[lane]
        records, decoded, acks, generation = await queue.get()
        while not self.current(generation):
            self._taken.set()
            records, decoded, acks, generation = await queue.get()
        records, decoded, acks = list(records), dict(decoded), list(acks)
        while not queue.empty() and len(records) < self.config.batch:
            more, more_decoded, more_acks, generation = queue.get_nowait()
            if not self.current(generation):
                continue
            records += more
            decoded.update(more_decoded)
            acks += more_acks
        self._taken.set()
        return records, decoded, acks

    def _report(self) -> None:
        now = time.monotonic()
        if now - self._reported >= 10.0:
            span, self._reported = now - self._reported, now
            n, b = self.applied - self._report_applied, self.batches - self._report_batches
            if b:
                log.info(
                    "applied %d events in %d batches (%.0f/s, %.0f per batch, writers busy %.0f%%)",
                    n, b, n / span, n / b, 100 * self._busy / span,
                )  # fmt: skip
            self._report_applied, self._report_batches, self._busy = self.applied, self.batches, 0.0

    async def stored_offsets(self, topic: str) -> dict[int, int]:
        """The last offset applied per partition of `topic`, from the read models."""
        pool = await self.start()
        rows = await pool.fetch(
            f'SELECT partition, "offset" FROM {LIVE_SCHEMA}.offsets WHERE projection = $1 AND topic = $2',
            PROJECTION,
            topic,
        )
        return {r["partition"]: r["offset"] for r in rows}

    async def _apply_pool(self) -> asyncpg.Pool:
        # Each writer applies one batch at a time on a connection of its own, released without asyncpg's
        # reset query (a round trip per batch; nothing of apply_batch outlives its transaction). The
        # saga and the chaser take session locks on `pool`, which keeps its reset.
        if self.apply_pool is None:
            lanes = len(self.queues)
            self.apply_pool = await create_pool(
                self.config.dsn, min_size=lanes, max_size=lanes, reset=keep_session
            )
        return self.apply_pool

    async def process(self, records: Sequence[Record], decoded: Decoded | None = None) -> BatchResult:
        pool = await self._apply_pool()
        jump_ok = {tp for tp, (_, _, n) in self._sought.items() if n >= 5}
        delay = 0.05
        for attempt in range(1, 9):
            try:
                async with pool.acquire() as conn:
                    result = await apply_isolating(
                        conn, records, cache=self.cache, jump_ok=jump_ok, ahead=decoded
                    )
                break
            except _RETRYABLE as exc:
                log.warning("batch of %d failed (attempt %d), retrying: %r", len(records), attempt, exc)
                self.cache.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        else:
            raise RuntimeError("the read models could not be written; exiting so a restart resumes cleanly")
        self.applied += result.applied
        self.batches += 1
        for tp in result.offsets:
            if tp not in result.seeks:
                self._sought.pop(tp, None)
        for tp, offset in result.seeks.items():
            await self._seek(tp, offset)
        if result.tasks:
            self.saga_wakeup.set()
        return result

    async def _seek(self, tp: TopicPartition, offset: int) -> None:
        # faust delivered a record past the next one our offsets expect: it positioned the partition past
        # records that were never applied (its committed offset ran ahead). Go back to stored + 1.
        target, when, count = self._sought.get(tp, (-1, 0.0, 0))
        now = time.monotonic()
        if target == offset and now - when < 1.0:
            return  # records fetched before the seek are still draining
        self._sought[tp] = (offset, now, count + 1 if target == offset else 1)
        log.warning("partition %s:%d is past the stored offsets: seeking to %d", tp[0], tp[1], offset)
        if self.seek is not None:
            await self.seek(tp, offset)

    async def run_saga(self) -> None:
        """Run queued saga tasks when a batch queues some, and every second in any case."""
        if not self.config.run_saga:
            log.warning("delivery saga off (VANTHU_PROCESSOR_SAGA=0)")
            return
        pool = await self.start()
        ws = await self.write_side(with_files=True)
        while True:
            try:
                await asyncio.wait_for(self.saga_wakeup.wait(), timeout=1.0)
            except TimeoutError:
                pass
            self.saga_wakeup.clear()
            try:
                while (run := await saga.run_tasks(pool, ws)).done and not run.failed:
                    pass
            except _RETRYABLE as exc:
                log.warning("saga run failed: %r", exc)

    async def chase(self) -> None:
        if not self.config.run_saga:
            return
        pool = await self.start()
        ws = await self.write_side()
        run = await chaser.chase(pool, ws, datetime.now(UTC), self.config.due_soon_days)
        if run.approaching or run.missed or run.failed:
            log.info("chaser: %s", run)

    async def collect_files(self) -> int:
        """Delete the uploads that no document attached in time (with the saga: one place, one pass)."""
        if not self.config.run_saga or self.config.files is None:
            return 0
        ws = await self.write_side()  # uploads are the write side's records
        older_than = timedelta(hours=self.config.unattached_hours)
        collected = await collect_unattached(ws.pool, self.config.files, older_than)
        if collected:
            log.info("collected %d uploaded files that no document attached", collected)
        return collected

    async def close(self) -> None:
        for pool in (self.pool, self.write_pool, self.apply_pool):
            if pool is not None:
                await pool.close()
        self.pool = self.write_pool = self.apply_pool = None


def _drain(queue: asyncio.Queue[Part]) -> list[Part]:
    parts = []
    while not queue.empty():
        parts.append(queue.get_nowait())
    return parts
