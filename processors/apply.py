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
from processors.combine import Combined
from processors.deadletters import DeadLetter, write_dead_letters
from processors.documents import (
    STAGE_FROM,
    Changes,
    Refused,
    StateCache,
    load_event_ids,
    write_documents,
    write_event_ids,
)
from processors.feed import write_feed
from processors.records import Record, TopicPartition, by_partition
from processors.schema import LIVE_SCHEMA, PROJECTION, SWAP_LOCK, schema_name
from processors.tasks import write_tasks
from schemas.acts import is_act_stream
from schemas.envelope import Envelope
from schemas.state import DocumentState

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


@dataclass
class _Read:
    """What a batch reads before it folds, in one statement: its partitions' stored offsets (locked), the
    stored states of its documents, which of them a dead letter blocks, and whether the working-day
    calendar has its days."""

    offsets: dict[TopicPartition, int]
    states: dict[str, DocumentState]
    blocked: set[str]
    days: bool


async def _lock_and_read(
    conn: Conn,
    s: str,
    projection: str,
    tps: Sequence[TopicPartition],
    ids: Sequence[str],
    cache: StateCache | None,
) -> _Read:
    """Lock the offsets rows of `tps` and read what the batch needs, in one round trip (it was four).

    One statement reads with the snapshot it started with, even when it then waits for an offsets row
    another writer holds (a worker losing the partition, mid-batch): the row it locks is the newest
    version, the documents it read may be older than what that writer committed. Such a wait shows as a
    locked row other than the one the snapshot saw, and the statement is then read again: the locks are
    held, so its new snapshot sees every commit of theirs. A partition's offsets row is created (at -1)
    the first time it is seen."""
    cached = {i: cache.get(s, i) for i in ids} if cache else {}
    versions = [c.version if c is not None else -1 for c in (cached.get(i) for i in ids)]
    topics, partitions = [t for t, _ in tps], [p for _, p in tps]
    for _ in range(3):
        rows = await conn.fetch(_read_sql(s), projection, topics, partitions, list(ids), versions)
        offsets: dict[TopicPartition, int] = {}
        states: dict[str, DocumentState] = {}
        blocked: set[str] = set()
        days, moved = False, False
        for r in rows:
            kind = r["k"]
            if kind == "o":
                offsets[(r["id"], r["n"])] = r["v"]
                moved = moved or not r["same"]
            elif kind == "d":
                hit = cached.get(r["id"])
                data = r["data"]
                states[r["id"]] = hit if data is None and hit is not None else DocumentState.from_dict(data)
            elif kind == "b":
                blocked.add(r["id"])
            else:
                days = r["same"]
        missing = [tp for tp in tps if tp not in offsets]
        if missing:
            await conn.execute(
                f"""INSERT INTO {s}.offsets (projection, topic, partition, "offset")
                    SELECT $1, t, p, -1 FROM unnest($2::text[], $3::int[]) AS x(t, p)
                    ON CONFLICT DO NOTHING""",
                projection,
                [t for t, _ in missing],
                [p for _, p in missing],
            )
            continue
        if not moved:
            return _Read(offsets, states, blocked, days)
    raise RuntimeError(f"offsets of {list(tps)} still moving after being locked")  # cannot happen


def _read_sql(s: str) -> str:
    # Parameters: the projection, the partitions (topics, numbers), the documents and the versions the
    # state cache holds for them (-1: none; a current one comes back without its state).
    return f"""WITH p AS (SELECT * FROM unnest($2::text[], $3::int[]) AS p(topic, partition)),
            seen AS (SELECT o.topic, o.partition, o.xmin::text AS x
                     FROM {s}.offsets o JOIN p USING (topic, partition) WHERE o.projection = $1),
            locked AS (SELECT o.topic, o.partition, o."offset", o.xmin::text AS x
                       FROM {s}.offsets o JOIN p USING (topic, partition) WHERE o.projection = $1
                       ORDER BY o.topic, o.partition
                       FOR UPDATE OF o)
        SELECT 'o' AS k, l.topic AS id, l.partition AS n, l."offset" AS v,
               l.x IS NOT DISTINCT FROM seen.x AS same, NULL::jsonb AS data
        FROM locked l LEFT JOIN seen USING (topic, partition)
        UNION ALL
        SELECT 'd', d.id, NULL, d.version, NULL, CASE WHEN d.version = c.v THEN NULL ELSE d.data END
        FROM unnest($4::text[], $5::int[]) AS c(id, v) JOIN {s}.documents d ON d.id = c.id
        UNION ALL
        SELECT DISTINCT 'b', document_id, NULL::int, NULL::bigint, NULL::boolean, NULL::jsonb
        FROM {s}.dead_letters
        WHERE status = 'open' AND reason NOT IN ({UNBLOCKING}) AND document_id = ANY($4::text[])
        UNION ALL
        SELECT 'c', NULL, NULL, NULL, EXISTS (SELECT 1 FROM {s}.calendar_days), NULL"""


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
    # Decoded before the transaction's first read: it reads the states of the batch's documents (of every
    # record, though some may turn out to be consumed already).
    decoded_all: dict[tuple[TopicPartition, int], Envelope | Exception] = {}
    for record in records:
        envelope = ahead.get((record.tp, record.offset)) if ahead else None
        if envelope is None:
            try:
                envelope = _decode(record)
            except Exception as exc:
                decoded_all[(record.tp, record.offset)] = exc
                continue
        decoded_all[(record.tp, record.offset)] = envelope
    ids = sorted(
        {
            e.stream_id
            for e in decoded_all.values()
            if isinstance(e, Envelope) and not is_act_stream(e.stream_id)
        }
    )
    async with _transaction(conn, opening):
        read = await _lock_and_read(conn, s, projection, sorted(groups), ids, cache)
        accepted = _guard(groups, read.offsets, strict_offsets, jump_ok, result)

        dead: list[DeadLetter] = []
        decoded: list[tuple[Record, Envelope]] = []
        published: list[tuple[Record, Envelope]] = []  # the calendar's publications
        for record in accepted:
            envelope_or_error = decoded_all[(record.tp, record.offset)]
            if isinstance(envelope_or_error, Exception):
                error = f"{type(envelope_or_error).__name__}: {envelope_or_error}"
                dead.append(DeadLetter(record, "undecodable", error))
            elif not is_act_stream(envelope_or_error.stream_id):
                decoded.append((record, envelope_or_error))
            elif is_publication(envelope_or_error):  # else a term: nothing in the read models
                published.append((record, envelope_or_error))

        if unwritable is not None:
            dead += [DeadLetter(r, "unwritable", unwritable, e) for r, e in [*decoded, *published]]
            decoded, published = [], []
        states = read.states
        # Only a record at or below its document's stored version is compared with the event applied
        # there (a redelivery, or a conflict); in a steady stream there is none and no query.
        again = [e for _, e in decoded if e.stream_id in states and e.version <= states[e.stream_id].version]
        changes = Changes(states, event_ids=await load_event_ids(conn, s, again) if again else {})
        blocked = read.blocked
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
        # writers of other partitions (the rebuild's loaders, a second worker) wait for them briefly. A
        # small batch (a live one) sends its event ids, rows, offsets and feed as one statement (the
        # counters before it, in their own: see processors/combine.py); a large one table by table.
        writes = Combined() if len(accepted) < STAGE_FROM else None
        await write_event_ids(conn, s, changes.new_ids, into=writes)
        await write_calendar(conn, s, [e for _, e in published], filled=read.days)
        await write_dead_letters(conn, s, dead)
        await write_documents(conn, s, changes, cache, into=writes)
        tps = sorted(result.offsets)
        offsets = (
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
        if writes is not None:
            writes.add(*offsets)
            await write_feed(conn, changes.notes, into=writes)
            await writes.run(conn)
        else:
            await conn.execute(*offsets)
            await write_feed(conn, changes.notes)
        result.dead, result.tasks, result.notifications = len(dead), len(changes.tasks), len(changes.notes)
    if cache is not None:
        cache.put(s, changes.changed, changes.rows, changes.counts)
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
