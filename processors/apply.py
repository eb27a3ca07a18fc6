"""Applying a batch of records to the read models: one transaction, exactly-once in effect.

The transaction locks the partition offsets it consumes, drops records at or below them (redelivered),
stops a partition at a jump past the next expected offset (faust positioned past unprocessed records: the
caller seeks back), checks each document's version (skips what is applied, dead-letters a gap instead of
applying out of order), writes the rows of every document it changed, dead letters, the new offsets, the
saga's tasks and the feed's NOTIFYs (delivered by PostgreSQL only if the transaction commits).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from deploy.config.db import Conn
from processors.calendar_days import is_publication, write_calendar
from processors.deadletters import DeadLetter, write_dead_letters
from processors.documents import (
    Changes,
    Refused,
    StateCache,
    load_event_ids,
    load_states,
    write_documents,
    write_event_ids,
)
from processors.feed import write_feed
from processors.records import Record, TopicPartition, by_partition
from processors.schema import LIVE_SCHEMA, PROJECTION, SWAP_LOCK, schema_name
from processors.tasks import write_tasks
from schemas.acts import is_act_stream
from schemas.envelope import Envelope

# What `effects` may be: True (every record), False (none), or per partition the offset after which
# records cause effects (a rebuild catching up past the live processor).
Effects = bool | Mapping[TopicPartition, int]


# Open dead letters with these reasons leave their document's later events free to apply: the record
# never reached the document's state (undecodable) or the document already has its version (conflict).
UNBLOCKING = "'undecodable', 'conflict'"

# A batch's commit waits for its WAL flush (the session's `synchronous_commit`, on). Committing without it
# would keep the read models right after a crash of PostgreSQL (the lost commit takes its offsets with it
# and the records are applied again), but not the feed: its NOTIFYs go out at commit, so streams could have
# sent seq N..M of an office that the crash then loses, and the replay numbers that office's entries again,
# perhaps in another order across partitions; a client resuming after M would miss changes (API.md: the
# feed is resumable with Last-Event-ID). The flush costs 2-2.5 ms per batch on this disk, with the notify
# lock held through it (session 7b measured 3.5-4.8 ms commits, 2.1-2.2 without the flush).

YIELD_EVERY = 256  # events folded between two turns of the event loop

# Failures worth retrying the same batch for; anything else is about the records themselves.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0  # already applied (version) or already consumed (offset)
    dead: int = 0
    seeks: dict[TopicPartition, int] = field(default_factory=dict)  # resume these partitions here
    offsets: dict[TopicPartition, int] = field(default_factory=dict)  # last consumed, as stored
    tasks: int = 0
    notifications: int = 0

    def merge(self, other: BatchResult) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.dead += other.dead
        for tp, offset in other.seeks.items():
            self.seeks.setdefault(tp, offset)
        self.offsets.update(other.offsets)
        self.tasks += other.tasks
        self.notifications += other.notifications


def _guard(
    groups: Mapping[TopicPartition, list[Record]],
    stored: Mapping[TopicPartition, int],
    strict: bool,
    jump_ok: Collection[TopicPartition],
    result: BatchResult,
) -> list[Record]:
    accepted: list[Record] = []
    for tp, records in groups.items():
        last = stored.get(tp, -1)
        for record in records:
            if record.offset <= last:
                result.duplicates += 1
            elif record.offset == last + 1 or not strict or tp in jump_ok:
                accepted.append(record)
                last = record.offset
            else:
                result.seeks[tp] = last + 1
                break
        result.offsets[tp] = last
    return accepted


def _decode(record: Record) -> Envelope:
    if record.value is None:
        raise ValueError("value: the record is empty (a tombstone)")
    # orjson parses a published event (canonical UTF-8 JSON) in a fraction of json's time; anything it
    # refuses goes through `from_json`, which accepts or refuses it with its own message.
    try:
        parsed = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        return Envelope.from_json(record.value)
    return Envelope.from_dict(parsed)


Decoded = Mapping[tuple[TopicPartition, int], Envelope]  # records decoded ahead, by partition and offset


async def decode_ahead(
    records: Sequence[Record], chunk: int = 256
) -> dict[tuple[TopicPartition, int], Envelope]:
    """Decode records before their batch's transaction, a chunk at a time, yielding to the event loop in
    between: the batch being written meanwhile goes on with its statements (decoding overlaps the
    database's work instead of running inside the transaction). A record that does not decode is left out:
    the batch decodes it again and dead-letters it."""
    out: dict[tuple[TopicPartition, int], Envelope] = {}
    for start in range(0, len(records), chunk):
        for record in records[start : start + chunk]:
            try:
                out[(record.tp, record.offset)] = _decode(record)
            except Exception:
                pass
        await asyncio.sleep(0)
    return out


async def _lock_offsets(
    conn: Conn, s: str, projection: str, tps: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    # Locked as they are; a partition's row is created (at -1) only the first time it is seen, so a
    # steady stream locks its offsets in one round trip instead of two.
    stored = await _locked_offsets(conn, s, projection, tps)
    missing = [tp for tp in tps if tp not in stored]
    if missing:
        await conn.execute(
            f"""INSERT INTO {s}.offsets (projection, topic, partition, "offset")
                SELECT $1, t, p, -1 FROM unnest($2::text[], $3::int[]) AS x(t, p)
                ON CONFLICT DO NOTHING""",
            projection,
            [t for t, _ in missing],
            [p for _, p in missing],
        )
        stored = await _locked_offsets(conn, s, projection, tps)
    return stored


async def _locked_offsets(
    conn: Conn, s: str, projection: str, tps: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    rows = await conn.fetch(
        f"""SELECT o.topic, o.partition, o."offset" FROM {s}.offsets o
            JOIN unnest($2::text[], $3::int[]) AS x(t, p) ON o.topic = x.t AND o.partition = x.p
            WHERE o.projection = $1
            ORDER BY o.topic, o.partition
            FOR UPDATE OF o""",
        projection,
        [t for t, _ in tps],
        [p for _, p in tps],
    )
    return {(r["topic"], r["partition"]): r["offset"] for r in rows}


@asynccontextmanager
async def _transaction(conn: Conn, opening: str | None) -> AsyncIterator[None]:
    """A transaction whose first statement (`opening`, no parameters; None: none) goes in one message with
    its BEGIN: a round trip less per batch than `conn.transaction()` and then that statement. Inside a
    transaction of the caller's, a savepoint (as `conn.transaction()` makes) and then the statement."""
    if conn.is_in_transaction():
        async with conn.transaction():
            if opening:
                await conn.execute(opening)
            yield
        return
    try:
        await conn.execute(f"BEGIN; {opening}" if opening else "BEGIN")
        yield
    except BaseException:
        if not conn.is_closed() and conn.is_in_transaction():
            try:
                await conn.execute("ROLLBACK")
            except Exception:
                conn.terminate()  # never hand a connection back inside a transaction
        raise
    await conn.execute("COMMIT")


def _effects_for(effects: Effects, record: Record) -> bool:
    if isinstance(effects, bool):
        return effects
    return record.offset > effects.get(record.tp, -1)


async def apply_batch(
    conn: Conn,
    records: Sequence[Record],
    *,
    schema: str = LIVE_SCHEMA,
    projection: str = PROJECTION,
    effects: Effects = True,
    strict_offsets: bool = True,
    swap_lock: bool = True,
    cache: StateCache | None = None,
    jump_ok: Collection[TopicPartition] = (),
    unwritable: str | None = None,
    ahead: Decoded | None = None,
) -> BatchResult:
    """Apply `records` (any partitions, any order within the batch) in one transaction; with
    `unwritable` (an error), dead-letter them instead and move past them; `ahead`: records decoded
    before the transaction (`decode_ahead`)."""
    s = schema_name(schema)
    result = BatchResult()
    if not records:
        return result
    groups = by_partition(records)
    # The swap lock first (a rebuild's swap holds it exclusively while it renames the schemas), then the
    # offset rows: every writer takes them in that order.
    opening = f"SELECT pg_advisory_xact_lock_shared({SWAP_LOCK:d})" if swap_lock else None
    async with _transaction(conn, opening):
        stored = await _lock_offsets(conn, s, projection, sorted(groups))
        accepted = _guard(groups, stored, strict_offsets, jump_ok, result)

        dead: list[DeadLetter] = []
        decoded: list[tuple[Record, Envelope]] = []
        published: list[tuple[Record, Envelope]] = []  # the calendar's publications
        for record in accepted:
            try:
                envelope = ahead.get((record.tp, record.offset)) if ahead else None
                envelope = envelope or _decode(record)
                if not is_act_stream(envelope.stream_id):
                    decoded.append((record, envelope))
                elif is_publication(envelope):  # else a term: nothing in the read models
                    published.append((record, envelope))
            except Exception as exc:
                dead.append(DeadLetter(record, "undecodable", f"{type(exc).__name__}: {exc}"))

        if unwritable is not None:
            dead += [DeadLetter(r, "unwritable", unwritable, e) for r, e in [*decoded, *published]]
            decoded, published = [], []
        ids = sorted({e.stream_id for _, e in decoded})
        states = await load_states(conn, s, ids, cache)
        # Only a record at or below its document's stored version is compared with the event applied
        # there (a redelivery, or a conflict); in a steady stream there is none and no query.
        again = [e for _, e in decoded if e.stream_id in states and e.version <= states[e.stream_id].version]
        changes = Changes(states, event_ids=await load_event_ids(conn, s, again) if again else {})
        # with it, whether the working-day calendar has its days (one round trip less per batch)
        [asked] = await conn.fetch(
            f"""SELECT ARRAY(SELECT DISTINCT document_id FROM {s}.dead_letters
                             WHERE status = 'open' AND reason NOT IN ({UNBLOCKING})
                               AND document_id = ANY($1::text[])) AS blocked,
                       EXISTS (SELECT 1 FROM {s}.calendar_days) AS days""",
            ids,
        )
        blocked: set[str] = set(asked["blocked"])
        newest: dict[TopicPartition, datetime] = {}
        for n, (record, envelope) in enumerate(decoded, start=1):
            if not n % YIELD_EVERY:
                await asyncio.sleep(0)  # a large batch folds for a while: let the other lane, the agent
                # and faust's timers run in between (it was the event loop's longest stretch)
            document = envelope.stream_id
            if document in blocked:
                error = "an earlier event of this document is a dead letter"
                dead.append(DeadLetter(record, "blocked", error, envelope))
                continue
            try:
                applied = changes.apply(envelope, record, _effects_for(effects, record))
            except Refused as refused:
                dead.append(DeadLetter(record, refused.reason, refused.error, envelope))
                if refused.reason != "conflict":
                    blocked.add(document)
                continue
            if not applied:
                result.duplicates += 1
                continue
            newest[record.tp] = max(newest.get(record.tp, envelope.occurred_at), envelope.occurred_at)
            result.applied += 1

        # The shared rows (statistics counters, then offsets, feed counters) are locked last, so that
        # writers of other partitions (the rebuild's loaders, a second worker) wait for them briefly.
        await write_event_ids(conn, s, changes.new_ids)
        await write_calendar(conn, s, [e for _, e in published], filled=asked["days"])
        await write_dead_letters(conn, s, dead)
        await write_documents(conn, s, changes, cache)
        tps = sorted(result.offsets)
        await conn.execute(
            f"""UPDATE {s}.offsets o SET "offset" = x.o,
                    last_occurred_at = greatest(o.last_occurred_at, x.at), updated_at = clock_timestamp()
                FROM unnest($2::text[], $3::int[], $4::bigint[], $5::timestamptz[]) AS x(t, p, o, at)
                WHERE o.projection = $1 AND o.topic = x.t AND o.partition = x.p""",
            projection,
            [t for t, _ in tps],
            [p for _, p in tps],
            [result.offsets[tp] for tp in tps],
            [newest.get(tp) for tp in tps],
        )
        await write_tasks(conn, changes.tasks)
        await write_feed(conn, changes.notes)
        result.dead, result.tasks, result.notifications = len(dead), len(changes.tasks), len(changes.notes)
    if cache is not None:
        cache.put(s, changes.changed, changes.rows)
    return result


async def apply_isolating(conn: Conn, records: Sequence[Record], **options: Any) -> BatchResult:
    """`apply_batch`, except that a record whose rows cannot be written (a value PostgreSQL refuses, a
    bug on one event's shape) is dead-lettered alone instead of failing its batch on every restart."""
    try:
        return await apply_batch(conn, records, **options)
    except TRANSIENT_ERRORS:
        raise
    except Exception:
        pass  # find the record: one at a time, in partition order
    total = BatchResult()
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        try:
            part = await apply_batch(conn, [record], **options)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            part = await apply_batch(conn, [record], unwritable=f"{type(exc).__name__}: {exc}", **options)
        total.merge(part)
    return total
