"""Either copy rebuilds the other: republish the store to an empty topic, restore an empty store from one.

Records carry the same key, value bytes and headers as the relay's (plus `position`), so a restored store
has the same events at the same positions with the same hashes; what depends on the store alone — register
counters, the duplicate index, snapshots — is rebuilt by folding, and anchors are written afresh.
Idempotency keys travel as a header on their command's last event and are restored with it.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from deploy.config.db import Conn
from producers.anchoring import anchor
from producers.handler import _key
from producers.hashing import GENESIS, event_hash
from producers.publishing import SELECT_EVENT, make_producer, publish
from producers.store import snapshot_due
from schemas.acts import is_act_stream
from schemas.envelope import Envelope, EnvelopeError
from schemas.evolve import evolve
from schemas.numbering import NO_TERM
from schemas.state import DocumentState, initial_state

_BATCH = 5000


class ReplicationError(RuntimeError):
    """Republish or restore refused; the message says why."""


def topic_record_count(bootstrap: str, topic: str) -> int | None:
    """Records currently held by `topic` (end minus beginning offsets), or None if it does not exist."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return None
        parts = [TopicPartition(topic, p) for p in partitions]
        begin, end = consumer.beginning_offsets(parts), consumer.end_offsets(parts)
        return int(sum(end[tp] - begin[tp] for tp in parts))
    finally:
        consumer.close()


async def republish(conn: Conn, bootstrap: str, topic: str, partitions: int) -> int:
    """Write every stored event, in position order, to `topic`, which must be empty (created if missing)."""
    held = topic_record_count(bootstrap, topic)
    if held is None:
        from producers.topics import ensure_topic

        ensure_topic(bootstrap, topic, partitions)
    elif held:
        raise ReplicationError(f"topic {topic} already holds {held} records; republish needs an empty topic")
    producer = make_producer(bootstrap, "vanthu-republish")
    loop = asyncio.get_running_loop()
    count = 0
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            batch: list[Any] = []
            query = f"SELECT {SELECT_EVENT} FROM events e ORDER BY e.position"
            async for row in conn.cursor(query, prefetch=_BATCH):
                batch.append(row)
                if len(batch) >= _BATCH:
                    await loop.run_in_executor(None, publish, producer, topic, batch)
                    count, batch = count + len(batch), []
            if batch:
                await loop.run_in_executor(None, publish, producer, topic, batch)
                count += len(batch)
    finally:
        producer.close(timeout=10)
    return count


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of every partition, from the beginning to the end it had when reading started."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=8 << 20,
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise ReplicationError(f"topic {topic} does not exist")
        parts = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        out: list[Any] = []
        remaining = {tp for tp in parts if end[tp] > consumer.position(tp)}
        while remaining:
            for tp, records in consumer.poll(timeout_ms=1000, max_records=50000).items():
                out.extend(r for r in records if r.offset < end[tp])
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return out
    finally:
        consumer.close()


@dataclass(frozen=True, slots=True)
class _Restored:
    position: int | None
    envelope: Envelope
    body: bytes
    idempotency: dict[str, Any] | None = None  # the idempotency record of the command it ended


def _events_from(records: list[Any]) -> list[_Restored]:
    """Deduplicated (by stream and version, repeats must be byte-identical), in store order."""
    seen: dict[tuple[str, int], _Restored] = {}
    for rec in records:
        try:
            envelope = Envelope.from_json(rec.value)
        except EnvelopeError as exc:
            raise ReplicationError(f"partition {rec.partition} offset {rec.offset}: {exc}") from exc
        if rec.key is not None and rec.key != envelope.stream_id.encode():
            raise ReplicationError(f"partition {rec.partition} offset {rec.offset}: key is not the stream id")
        if envelope.canonical_bytes() != rec.value:
            raise ReplicationError(f"partition {rec.partition} offset {rec.offset}: not in canonical form")
        position = next((int(v) for k, v in rec.headers or [] if k == "position"), None)
        keyed = next((json.loads(v) for k, v in rec.headers or [] if k == "idempotency"), None)
        key = (envelope.stream_id, envelope.version)
        earlier = seen.get(key)
        if earlier is not None:
            if earlier.body != rec.value:
                raise ReplicationError(f"{key[0]} v{key[1]}: two different records on the topic")
            continue
        seen[key] = _Restored(position, envelope, bytes(rec.value), keyed)
    events = list(seen.values())
    if events and all(e.position is not None for e in events):
        events.sort(key=lambda e: e.position or 0)
    last: dict[str, int] = defaultdict(int)
    for e in events:
        if e.envelope.version != last[e.envelope.stream_id] + 1:
            raise ReplicationError(
                f"{e.envelope.stream_id}: v{e.envelope.version} follows v{last[e.envelope.stream_id]}"
            )
        last[e.envelope.stream_id] = e.envelope.version
    return events


async def restore(conn: Conn, bootstrap: str, topic: str) -> int:
    """Rebuild an empty store from `topic`; needs the owner's connection (it sets the position sequence)."""
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM events)"):
        raise ReplicationError("the event store is not empty; restore only rebuilds an empty store")
    loop = asyncio.get_running_loop()
    events = _events_from(await loop.run_in_executor(None, read_topic, bootstrap, topic))
    hashes: dict[str, bytes] = {}
    states: dict[str, DocumentState] = {}
    rows, snapshots = [], []
    counters: dict[tuple[str, str, str, str], int] = {}
    received = []
    keys = []
    acts: list[tuple[Envelope, int]] = []
    for n, e in enumerate(events, start=1):
        env = e.envelope
        if e.idempotency is not None:
            i = e.idempotency
            keys.append(
                (i["key"], bytes.fromhex(i["request_hash"]), env.stream_id, i["version"], e.position or n,
                 json.dumps(i["warnings"], ensure_ascii=False))
            )  # fmt: skip
        prev = hashes.get(env.stream_id, GENESIS)
        digest = hashes[env.stream_id] = event_hash(prev, e.body)
        rows.append(
            (e.position or n, env.stream_id, env.version, env.event_id, env.type, env.schema_version,
             env.occurred_at, e.body, prev, digest)
        )  # fmt: skip
        if is_act_stream(env.stream_id):
            acts.append((env, e.position or n))
            continue
        before = states.get(env.stream_id) or initial_state(env.stream_id)
        state = states[env.stream_id] = evolve(before, env)
        if snapshot_due(before.version, state.version):
            snapshots.append((state.id, state.version, state.to_dict(), digest))
        registered = (state.incoming_number, state.registered_in)
        if (
            state.office_id
            and state.incoming_number
            and state.registered_on
            and registered
            != (
                before.incoming_number,
                before.registered_in,
            )
        ):  # registered, or entered in a successor's register when its office closed
            office = state.registered_in or state.office_id
            key = (office, "incoming", state.register_name or "", str(state.registered_on.year))
            counters[key] = max(counters.get(key, 0), state.incoming_number)
        if state.office_id and state.outgoing_number and not before.outgoing_number and state.number_year:
            key = (state.office_id, "outgoing", state.series or "", _outgoing_period(state))
            counters[key] = max(counters.get(key, 0), state.outgoing_number)
        if env.version == 1 and state.issuing_body and state.number_code and state.document_date:
            received.append(
                (
                    state.id,
                    state.office_id,
                    _key(state.issuing_body),
                    _key(state.number_code),
                    state.document_date,
                )
            )
    async with conn.transaction():
        columns = ["position", "stream_id", "version", "event_id", "type", "schema_version", "occurred_at"]
        await conn.copy_records_to_table(
            "events", records=rows, columns=[*columns, "body", "prev_hash", "hash"]
        )
        await conn.executemany(  # jsonb has no binary COPY encoder; snapshots are few
            "INSERT INTO snapshots (stream_id, version, state, hash) VALUES ($1, $2, $3, $4)", snapshots
        )
        await conn.executemany(
            "INSERT INTO register_counters (office_id, register, series, period, last_number) "
            "VALUES ($1, $2, $3, $4, $5)",
            [(*k, v) for k, v in counters.items()],
        )
        await conn.executemany(
            "INSERT INTO idempotency_keys (key, request_hash, document_id, version, position, warnings) "
            "VALUES ($1, $2, $3, $4, $5, $6::text::jsonb)",
            keys,
        )
        await _restore_acts(conn, acts)
        await conn.copy_records_to_table(
            "incoming_received",
            records=received,
            columns=["document_id", "office_id", "issuing_body_key", "number_code_key", "document_date"],
        )
        if rows:
            await conn.execute("SELECT setval('events_position_seq', $1)", max(r[0] for r in rows))
    await anchor(conn, force=True)
    return len(rows)


def _outgoing_period(state: DocumentState) -> str:
    """The counter period a restored số đi was taken in (schemas/numbering.py): a term or a year."""
    if state.numbering == "year":
        return str(state.number_year)
    return NO_TERM if state.term_starts_on is None else state.term_starts_on.isoformat()


async def _restore_acts(conn: Conn, acts: list[tuple[Envelope, int]]) -> None:
    """The write side's index of terms, closed offices and published calendars, from their events (in
    store order)."""
    for env, position in acts:
        if env.type == "OfficeClosed":
            await conn.execute(
                "INSERT INTO office_closures (office_id, closed_on, successors, basis, position, closed_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (office_id) DO NOTHING",
                env.data["office_id"],
                date.fromisoformat(env.data["closed_on"]),
                list(env.data["successors"]),
                env.data["basis"],
                position,
                env.occurred_at,
            )
        elif env.type == "TermSet":
            await conn.execute(
                "INSERT INTO office_terms (office_id, starts_on, label, position) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (office_id, starts_on) DO UPDATE SET label = EXCLUDED.label, "
                "position = EXCLUDED.position",
                env.data["office_id"],
                date.fromisoformat(env.data["starts_on"]),
                env.data["label"],
                position,
            )
        elif env.type == "CalendarPublished":
            await conn.execute(
                "INSERT INTO published_calendar (year, body, position, published_at) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (year) DO UPDATE SET body = EXCLUDED.body, position = EXCLUDED.position, "
                "published_at = EXCLUDED.published_at",
                int(env.data["year"]),
                dict(env.data),
                position,
                env.occurred_at,
            )
