"""The documents read model: each document's folded state, applied one event at a time, written as rows.

The batch writer and dead-letter retry both apply events through `Changes.apply`, so the rule for one
event (already applied, a different event at an applied version, version gap, unfoldable, saga tasks and
feed entries owed) lives here once.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from deploy.config.db import Conn
from processors.counters import write_counters
from processors.feed import notifications
from processors.records import Record
from processors.rows import CHILD_TABLES, DOCUMENT_COLUMNS, LISTING_COLUMNS, Row, document_rows
from processors.tasks import Task, saga_tasks
from schemas.envelope import Envelope
from schemas.evolve import evolve
from schemas.state import DocumentState, initial_state


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


Applied = tuple[UUID, bytes]  # an applied event's id and the sha256 of its record's bytes


def _applied(envelope: Envelope, record: Record) -> Applied:
    return envelope.event_id, hashlib.sha256(record.value or b"").digest()


class Refused(Exception):
    """An event that cannot be applied now: `reason` is "gap", "unappliable" or "conflict" (a different
    event than the one applied at its version: recorded, but it does not block the document)."""

    def __init__(self, reason: str, error: str) -> None:
        self.reason, self.error = reason, error
        super().__init__(f"{reason}: {error}")


@dataclass
class Changes:
    """What one transaction does to the documents: their states, and the effects the applied events owe."""

    states: dict[str, DocumentState]  # the latest state of every document loaded or changed
    changed: dict[str, DocumentState] = field(default_factory=dict)
    last_types: dict[str, str] = field(default_factory=dict)  # the type of each changed document's last event
    tasks: list[Task] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    # (document, version) -> (event id, sha256 of the record's bytes) applied, as far as loaded
    event_ids: dict[tuple[str, int], Applied] = field(default_factory=dict)
    new_ids: dict[tuple[str, int], Applied] = field(default_factory=dict)  # applied by this transaction
    # each changed document as it was before this transaction changed it (None: it did not exist)
    before: dict[str, DocumentState | None] = field(default_factory=dict)

    def _changing(self, document: str) -> None:
        if document not in self.before:
            self.before[document] = self.states.get(document)

    def apply(self, envelope: Envelope, record: Record, effects: bool) -> bool:
        """Apply one event in version order: True when applied, False when the document already has this
        very event. Raises Refused for another event at an applied version, a version gap, or an event
        the current code cannot fold."""
        document = envelope.stream_id
        before = self.states.get(document) or initial_state(document)
        if envelope.version <= before.version:
            applied = self.event_ids.get((document, envelope.version))
            if applied is not None and applied != _applied(envelope, record):
                what = "other bytes" if applied[0] == envelope.event_id else f"event {envelope.event_id}"
                raise Refused(
                    "conflict",
                    f"v{envelope.version} was applied as event {applied[0]}; this record is {what}",
                )
            return False
        if envelope.version > before.version + 1:
            raise Refused("gap", f"version gap: expected {before.version + 1}, got {envelope.version}")
        try:
            after = evolve(before, envelope)
        except Exception as exc:
            raise Refused("unappliable", f"{type(exc).__name__}: {exc}") from exc
        self._changing(document)
        self.states[document] = self.changed[document] = after
        self.last_types[document] = envelope.type
        self.event_ids[(document, envelope.version)] = self.new_ids[(document, envelope.version)] = _applied(
            envelope, record
        )
        if effects:
            self.tasks += saga_tasks(before, after, envelope)
            self.notes += notifications(after, envelope, record)
        return True

    def pass_over(self, envelope: Envelope, record: Record) -> None:
        """Skip one event on an operator's word: the document takes its version without its change.
        Raises Refused unless it is the document's next version (and not its first)."""
        document = envelope.stream_id
        before = self.states.get(document) or initial_state(document)
        if before.version == 0 or envelope.version != before.version + 1:
            raise Refused(
                "gap",
                f"skip: the read model holds v{before.version}; only v{before.version + 1} can be skipped "
                + ("(never a document's first event: park it)" if before.version == 0 else ""),
            )
        self._changing(document)
        self.states[document] = self.changed[document] = before.model_copy(
            update={"version": envelope.version}
        )
        self.last_types[document] = envelope.type
        self.event_ids[(document, envelope.version)] = self.new_ids[(document, envelope.version)] = _applied(
            envelope, record
        )


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


async def load_event_ids(conn: Conn, s: str, envelopes: Sequence[Envelope]) -> dict[tuple[str, int], Applied]:
    """The event applied at each (document, version) these envelopes name, where one was."""
    rows = await conn.fetch(
        f"""SELECT x.d, x.v, e.event_id, e.digest FROM unnest($1::text[], $2::int[]) AS x(d, v)
            JOIN {s}.event_ids e ON e.document_id = x.d AND e.version = x.v""",
        [e.stream_id for e in envelopes],
        [e.version for e in envelopes],
    )
    return {(r["d"], r["v"]): (r["event_id"], bytes(r["digest"])) for r in rows}


async def write_event_ids(conn: Conn, s: str, ids: Mapping[tuple[str, int], Applied]) -> None:
    if ids:
        await conn.copy_records_to_table(
            "event_ids",
            records=[(d, v, i, digest) for (d, v), (i, digest) in ids.items()],
            columns=["document_id", "version", "event_id", "digest"],
            schema_name=s,
        )


async def write_documents(conn: Conn, s: str, changes: Changes) -> None:
    """Replace every row of the documents `changes` changed with the rows of their new states, and move
    the statistics counters by the difference between their old and new states."""
    states, last_types = changes.changed, changes.last_types
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
    await _write_listing(conn, s, ids, [row for b in built for row in b.listing])
    await write_counters(conn, s, changes.before, states)


async def _write_listing(conn: Conn, s: str, ids: list[str], rows: list[Row]) -> None:
    """Upsert the listing rows of these documents, leaving alone a row that did not change (most events
    change none of what a list shows but the state and version), and drop rows of offices that no
    longer list a document."""
    await conn.execute(
        f"""DELETE FROM {s}.listing l WHERE l.document_id = ANY($1::text[])
              AND (l.office_id, l.document_id) NOT IN (SELECT * FROM unnest($2::text[], $3::text[]))""",
        ids,
        [r[0] for r in rows],
        [r[1] for r in rows],
    )
    if not rows:
        return
    # One statement for the whole batch, each column as an array (a row's attached files as one text,
    # split again in SQL): an INSERT per row cost as much as every other table of the batch together.
    cols = ", ".join(LISTING_COLUMNS)
    arrays = ", ".join(f"${n}::{_LISTING_TYPES.get(c, 'text')}[]" for n, c in enumerate(LISTING_COLUMNS, 1))
    values = ", ".join(
        "string_to_array(attachments, ',')" if c == "attachments" else c for c in LISTING_COLUMNS
    )
    shown = LISTING_COLUMNS[2:]
    files = LISTING_COLUMNS.index("attachments")
    columns = [list(c) for c in zip(*rows, strict=True)]
    columns[files] = [",".join(a) for a in columns[files]]
    await conn.execute(
        f"""INSERT INTO {s}.listing AS l ({cols})
            SELECT {values} FROM unnest({arrays}) AS x({cols})
            ON CONFLICT (office_id, document_id) DO UPDATE SET
                {", ".join(f"{c} = EXCLUDED.{c}" for c in shown)}
            WHERE ({", ".join(f"l.{c}" for c in shown)})
                IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in shown)})""",
        *columns,
    )


_LISTING_TYPES = {
    "version": "integer",
    "secrecy_rank": "smallint",
    "incoming_number": "integer",
    "outgoing_number": "integer",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
}
