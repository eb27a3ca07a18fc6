"""The bulk loader: valid event streams written straight into a store (COPY), to reach 1 M events fast.

Streams come from the decider (tests/processors/workload.py): a few templates, each a mixed workload of
incoming, outgoing and task documents across every configured office, started at a different moment of
the past year; each template is then copied with fresh document and event ids (every UUID in a body gets
a per-copy suffix, so cross-document references such as a delivered copy's source stay consistent). Hash
chains are computed per stream as the store does; anchors are written with producers.anchoring; every
position goes into the outbox, so the relay publishes the dataset to Kafka (the relay benchmark).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from deploy.config.db import connect
from deploy.config.offices import load_offices
from producers.anchoring import anchor
from producers.hashing import GENESIS, event_hash
from schemas.envelope import Actor, Envelope
from tests.processors.workload import Workload
from tests.producers.bulk import _event as task_event

_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
COLUMNS = [
    "stream_id",
    "version",
    "event_id",
    "type",
    "schema_version",
    "occurred_at",
    "body",
    "prev_hash",
    "hash",
]
TEMPLATES = 10


@dataclass(frozen=True, slots=True)
class _Event:
    stream_id: str
    version: int
    event_id: str
    type: str
    schema_version: int
    occurred_at: datetime
    body: bytes


def office_ids(settings: Any) -> list[str]:
    """The offices the dataset spreads its documents over: the city office and the 22 former district
    offices, as in every run before today's city was configured, so figures stay comparable (the
    `fanout` benchmark uses today's committees)."""
    from deploy.city import successors

    former = set(successors())
    return [o.id for o in load_offices(settings.offices_file) if o.parent_id is None or o.id in former]


def templates(offices: list[str], total: int, copies: int, today: datetime) -> list[list[_Event]]:
    """TEMPLATES workloads spread over the year before `today`, together total/copies events."""
    per = max(200, total // (copies * TEMPLATES))
    out = []
    for t in range(TEMPLATES):
        start = today - timedelta(days=330 - t * 33)
        start = start.replace(hour=2, minute=0, second=0, microsecond=0)
        w = Workload(offices, seed=100 + t, now=start)
        out.append(
            [
                _Event(
                    e.stream_id,
                    e.version,
                    str(e.event_id),
                    e.type,
                    e.schema_version,
                    e.occurred_at,
                    e.canonical_bytes(),
                )
                for e in w.events(per)
            ]
        )
    return out


def copies_of(tmpl: list[list[_Event]], copies: int, salt: int) -> Iterator[_Event]:
    for k in range(copies):
        suffix = f"{salt:04x}{k:08x}".encode()
        s = suffix.decode()

        def swap(m: re.Match[bytes], suffix: bytes = suffix) -> bytes:
            return m.group(0)[:24] + suffix

        for events in tmpl:
            for e in events:
                yield _Event(
                    e.stream_id[:24] + s,
                    e.version,
                    e.event_id[:24] + s,
                    e.type,
                    e.schema_version,
                    e.occurred_at,
                    _UUID.sub(swap, e.body),
                )


def long_stream(document_id: str, count: int, start: datetime) -> list[_Event]:
    """One task with `count` events, a minute apart (for as_of)."""
    actor = Actor(user="u-bulk", office="tu-hcm", roles=("clerk",))
    out = []
    for v in range(1, count + 1):
        e = Envelope(
            event_id=uuid.uuid4(),
            stream_id=document_id,
            version=v,
            occurred_at=start + timedelta(minutes=v),
            actor=actor,
            **task_event(v),
        )
        out.append(
            _Event(
                e.stream_id, v, str(e.event_id), e.type, e.schema_version, e.occurred_at, e.canonical_bytes()
            )
        )
    return out


@dataclass
class Loaded:
    events: int
    documents: int
    seconds: dict[str, float] = field(default_factory=dict)
    long_document: str | None = None
    long_start: datetime | None = None
    record_bytes_avg: float = 0.0


async def load(
    dsn: str,
    offices: list[str],
    total: int,
    *,
    copies: int = 10,
    long_events: int = 0,
    outbox: bool = True,
    anchors: bool = True,
    salt: int = 1,
) -> Loaded:
    """Write about `total` events (plus one stream of `long_events`) into the store at `dsn`."""
    today = datetime.now(UTC)
    t0 = time.monotonic()
    tmpl = templates(offices, total, copies, today)
    t1 = time.monotonic()
    conn = await connect(dsn)
    heads: dict[str, bytes] = {}
    n, size = 0, 0
    chunk: list[tuple[Any, ...]] = []

    async def flush() -> None:
        if chunk:
            await conn.copy_records_to_table("events", records=chunk, columns=COLUMNS)
            chunk.clear()

    def add(e: _Event) -> None:
        nonlocal n, size
        prev = heads.get(e.stream_id, GENESIS)
        h = event_hash(prev, e.body)
        heads[e.stream_id] = h
        chunk.append(
            (
                e.stream_id,
                e.version,
                uuid.UUID(e.event_id),
                e.type,
                e.schema_version,
                e.occurred_at,
                e.body,
                prev,
                h,
            )
        )
        n += 1
        size += len(e.body)

    loaded = Loaded(0, 0)
    try:
        for e in copies_of(tmpl, copies, salt):
            add(e)
            if len(chunk) >= 20000:
                await flush()
        if long_events:
            loaded.long_document = str(uuid.uuid4())
            loaded.long_start = today - timedelta(days=30)
            for e in long_stream(loaded.long_document, long_events, loaded.long_start):
                add(e)
        await flush()
        t2 = time.monotonic()
        if outbox:
            await conn.execute("INSERT INTO outbox (position) SELECT position FROM events")
        await conn.execute("ANALYZE events")
        t3 = time.monotonic()
        if anchors:
            await anchor(conn, force=True)
        t4 = time.monotonic()
    finally:
        await conn.close()
    loaded.events, loaded.documents = n, len(heads)
    loaded.record_bytes_avg = size / n if n else 0.0
    loaded.seconds = {
        "generate_templates": round(t1 - t0, 1),
        "copy_into_store": round(t2 - t1, 1),
        "outbox_and_analyze": round(t3 - t2, 1),
        "anchors": round(t4 - t3, 1),
    }
    return loaded
