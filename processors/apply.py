"""Applying a batch of records to the read models: one transaction, exactly-once in effect.

The transaction locks the partition offsets it consumes, drops records at or below them (redelivered),
stops a partition at a jump past the next expected offset (faust positioned past unprocessed records: the
caller seeks back), checks each document's version (skips what is applied, dead-letters a gap instead of
applying out of order), writes the rows of every document it changed, dead letters, the new offsets, the
saga's tasks and the feed's NOTIFYs (delivered by PostgreSQL only if the transaction commits).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from processors.records import Record, TopicPartition, by_partition
from processors.rows import CHILD_TABLES, DOCUMENT_COLUMNS, document_rows
from processors.tasks import FEED_CHANNEL, Task, notifications, saga_tasks
from schemas.envelope import Envelope
from schemas.evolve import evolve
from schemas.state import DocumentState, initial_state

LIVE_SCHEMA = "rm"
PROJECTION = "read_models"
# Every live batch holds this lock shared; a rebuild takes it exclusively to swap schemas under it.
SWAP_LOCK = 0x76616E7468_726D

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# What `effects` may be: True (every record), False (none), or per partition the offset after which
# records cause effects (a rebuild catching up past the live processor).
Effects = bool | Mapping[TopicPartition, int]
Conn = asyncpg.Connection | PoolConnectionProxy


def schema_name(name: str) -> str:
    if not _SCHEMA.match(name):
        raise ValueError(f"schema: {name!r} is not a plain lower-case identifier")
    return name


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


class StateCache:
    """Recently folded states, trusted only when their version equals the stored one."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._states: OrderedDict[tuple[str, str], DocumentState] = OrderedDict()

    def get(self, schema: str, document_id: str) -> DocumentState | None:
        return self._states.get((schema, document_id))

    def put(self, schema: str, states: Mapping[str, DocumentState]) -> None:
        for document_id, state in states.items():
            key = (schema, document_id)
            self._states[key] = state
            self._states.move_to_end(key)
        while len(self._states) > self.size:
            self._states.popitem(last=False)

    def clear(self) -> None:
        self._states.clear()


@dataclass
class _DeadLetter:
    record: Record
    reason: str
    error: str
    envelope: Envelope | None = None

    def row(self) -> tuple[Any, ...]:
        r, e = self.record, self.envelope
        document = e.stream_id if e else (r.key.decode("utf-8", "replace") if r.key else None)
        return (
            r.topic,
            r.partition,
            r.offset,
            _text(document),
            e.version if e else None,
            _text(e.type if e else r.header("type")),
            self.reason,
            _text(self.error[:4000]),
            r.key,
            r.value,
            {k: _text(v) for k, v in r.headers_json().items()},
        )


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; a dead letter must be storable whatever the record held.
    return None if value is None else value.replace("\x00", "\\0")


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
    return Envelope.from_json(record.value)


async def _lock_offsets(
    conn: Conn, s: str, projection: str, tps: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    topics, partitions = [t for t, _ in tps], [p for _, p in tps]
    await conn.execute(
        f"""INSERT INTO {s}.offsets (projection, topic, partition, "offset")
            SELECT $1, t, p, -1 FROM unnest($2::text[], $3::int[]) AS x(t, p)
            ON CONFLICT DO NOTHING""",
        projection,
        topics,
        partitions,
    )
    rows = await conn.fetch(
        f"""SELECT o.topic, o.partition, o."offset" FROM {s}.offsets o
            JOIN unnest($2::text[], $3::int[]) AS x(t, p) ON o.topic = x.t AND o.partition = x.p
            WHERE o.projection = $1
            ORDER BY o.topic, o.partition
            FOR UPDATE OF o""",
        projection,
        topics,
        partitions,
    )
    return {(r["topic"], r["partition"]): r["offset"] for r in rows}


async def load_states(
    conn: Conn, s: str, ids: Sequence[str], cache: StateCache | None
) -> dict[str, DocumentState]:
    """The stored state of each document that has one (from the cache when its version is current)."""
    cached = {i: cache.get(s, i) for i in ids} if cache else {}
    versions = [c.version if c is not None else -1 for c in (cached.get(i) for i in ids)]
    rows = await conn.fetch(
        f"""SELECT d.id, d.version, CASE WHEN d.version = c.v THEN NULL ELSE d.data END AS data
            FROM unnest($1::text[], $2::int[]) AS c(id, v) JOIN {s}.documents d ON d.id = c.id""",
        list(ids),
        versions,
    )
    out: dict[str, DocumentState] = {}
    for r in rows:
        hit = cached.get(r["id"])
        out[r["id"]] = hit if r["data"] is None and hit is not None else DocumentState.from_dict(r["data"])
    return out


async def write_documents(
    conn: Conn, s: str, states: Mapping[str, DocumentState], last_types: Mapping[str, str]
) -> None:
    """Replace every row of these documents with the rows of their new states."""
    if not states:
        return
    ids = list(states)
    built = [document_rows(states[i], last_types[i]) for i in ids]
    cols = ", ".join(DOCUMENT_COLUMNS)
    # `data` arrives as JSON text (pydantic's own encoder, much faster than dumping a dict) cast to jsonb.
    params = ", ".join(
        f"${n}::text::jsonb" if c == "data" else f"${n}" for n, c in enumerate(DOCUMENT_COLUMNS, 1)
    )
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in DOCUMENT_COLUMNS[1:])
    await conn.executemany(
        f"INSERT INTO {s}.documents ({cols}) VALUES ({params}) ON CONFLICT (id) DO UPDATE SET {updates}",
        [b.document for b in built],
    )
    for table, (id_column, columns) in CHILD_TABLES.items():
        await conn.execute(f"DELETE FROM {s}.{table} WHERE {id_column} = ANY($1::text[])", ids)
        rows = [row for b in built for row in b.children[table]]
        if rows:
            await conn.copy_records_to_table(table, records=rows, columns=list(columns), schema_name=s)


async def write_dead_letters(conn: Conn, s: str, dead: Sequence[_DeadLetter]) -> None:
    if dead:
        await conn.executemany(
            f"""INSERT INTO {s}.dead_letters (topic, partition, "offset", document_id, version, event_type,
                    reason, error, key, value, headers)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                ON CONFLICT DO NOTHING""",
            [d.row() for d in dead],
        )


async def write_effects(conn: Conn, tasks: Sequence[Task], notes: Sequence[dict[str, Any]]) -> None:
    if tasks:
        await conn.executemany(
            """INSERT INTO public.processor_tasks (key, kind, payload) VALUES ($1, $2, $3)
               ON CONFLICT (key) DO NOTHING""",
            [(t.key, t.kind, t.payload) for t in tasks],
        )
    if notes:
        await write_feed(conn, notes)


async def write_feed(conn: Conn, notes: Sequence[dict[str, Any]]) -> None:
    """Append the changes to each office's feed with the office's next seqs, then NOTIFY them.

    Offices are locked in sorted order (no deadlock between workers); each counter row stays locked until
    commit, so one office's feed rows commit in seq order."""
    by_office: dict[str, list[dict[str, Any]]] = {}
    for note in notes:
        by_office.setdefault(note["office_id"], []).append(note)
    offices = sorted(by_office)
    # One statement takes every office's seqs, locking the counter rows in sorted order.
    counters = await conn.fetch(
        """INSERT INTO public.feed_counters (office_id, seq)
           SELECT o, n FROM unnest($1::text[], $2::bigint[]) AS x(o, n) ORDER BY o
           ON CONFLICT (office_id) DO UPDATE SET seq = feed_counters.seq + EXCLUDED.seq
           RETURNING office_id, seq""",
        offices,
        [len(by_office[o]) for o in offices],
    )
    rows, payloads = [], []
    for counter in counters:
        office, last = counter["office_id"], counter["seq"]
        items = by_office[office]
        for seq, item in enumerate(items, start=last - len(items) + 1):
            payload = json.dumps({**item, "seq": seq}, separators=(",", ":"), ensure_ascii=False)
            rows.append(
                (office, seq, item["document_id"], item["version"], item["type"], item["secrecy"], payload)
            )
            payloads.append(payload)
    # The payload goes in as text, cast by PostgreSQL: encoded once, for the row and the NOTIFY alike.
    await conn.executemany(
        """INSERT INTO public.feed (office_id, seq, document_id, version, type, secrecy, payload)
           VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)""",
        rows,
    )
    await conn.execute("SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) AS p", FEED_CHANNEL, payloads)


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
) -> BatchResult:
    """Apply `records` (any partitions, any order within the batch) in one transaction; with
    `unwritable` (an error), dead-letter them instead and move past them."""
    s = schema_name(schema)
    result = BatchResult()
    if not records:
        return result
    groups = by_partition(records)
    new_states: dict[str, DocumentState] = {}
    async with conn.transaction():
        if swap_lock:
            await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", SWAP_LOCK)
        stored = await _lock_offsets(conn, s, projection, sorted(groups))
        accepted = _guard(groups, stored, strict_offsets, jump_ok, result)

        dead: list[_DeadLetter] = []
        decoded: list[tuple[Record, Envelope]] = []
        for record in accepted:
            try:
                decoded.append((record, _decode(record)))
            except Exception as exc:
                dead.append(_DeadLetter(record, "undecodable", f"{type(exc).__name__}: {exc}"))

        if unwritable is not None:
            dead += [_DeadLetter(r, "unwritable", unwritable, e) for r, e in decoded]
            decoded = []
        ids = sorted({e.stream_id for _, e in decoded})
        states = await load_states(conn, s, ids, cache)
        blocked = {
            r["document_id"]
            for r in await conn.fetch(
                f"""SELECT DISTINCT document_id FROM {s}.dead_letters
                    WHERE status = 'open' AND reason <> 'undecodable' AND document_id = ANY($1::text[])""",
                ids,
            )
        }
        last_types: dict[str, str] = {}
        newest: dict[TopicPartition, datetime] = {}
        tasks: list[Task] = []
        notes: list[dict[str, Any]] = []
        for record, envelope in decoded:
            document = envelope.stream_id
            if document in blocked:
                error = "an earlier event of this document is a dead letter"
                dead.append(_DeadLetter(record, "blocked", error, envelope))
                continue
            before = states.get(document) or initial_state(document)
            if envelope.version <= before.version:
                result.duplicates += 1
                continue
            if envelope.version > before.version + 1:
                error = f"version gap: expected {before.version + 1}, got {envelope.version}"
                dead.append(_DeadLetter(record, "gap", error, envelope))
                blocked.add(document)
                continue
            try:
                after = evolve(before, envelope)
            except Exception as exc:
                dead.append(_DeadLetter(record, "unappliable", f"{type(exc).__name__}: {exc}", envelope))
                blocked.add(document)
                continue
            states[document] = new_states[document] = after
            last_types[document] = envelope.type
            newest[record.tp] = max(newest.get(record.tp, envelope.occurred_at), envelope.occurred_at)
            result.applied += 1
            if _effects_for(effects, record):
                tasks += saga_tasks(before, after, envelope)
                notes += notifications(after, envelope, record)

        await write_documents(conn, s, new_states, last_types)
        await write_dead_letters(conn, s, dead)
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
        await write_effects(conn, tasks, notes)
        result.dead, result.tasks, result.notifications = len(dead), len(tasks), len(notes)
    if cache is not None:
        cache.put(s, new_states)
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
