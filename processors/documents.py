"""The documents read model: each document's folded state, applied one event at a time, written as rows.

The batch writer and dead-letter retry both apply events through `Changes.apply`, so the rule for one
event (already applied, a different event at an applied version, version gap, unfoldable, saga tasks and
feed entries owed) lives here once.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from deploy.config.db import Conn
from processors.combine import Combined
from processors.counters import Key, contributions, move, write_delta
from processors.feed import notifications
from processors.records import Record
from processors.rows import (
    CHILD_TABLES,
    COLUMN_TYPES,
    DOCUMENT_COLUMNS,
    LISTING_COLUMNS,
    PRIMARY_KEYS,
    DocumentRows,
    Row,
    document_rows,
)
from processors.tasks import Task, saga_tasks
from schemas.envelope import Envelope
from schemas.evolve import evolve
from schemas.state import DocumentState, initial_state

Counts = Mapping[Key, int]  # what one document counts for in the statistics counters (`contributions`)


class StateCache:
    """Recently folded states, trusted only when their version equals the stored one; with each, the rows
    it was written as and what it counts for (the writer diffs a document's new rows and counts against
    them instead of rebuilding them)."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._states: OrderedDict[
            tuple[str, str], tuple[DocumentState, DocumentRows | None, Counts | None]
        ] = OrderedDict()

    def get(self, schema: str, document_id: str) -> DocumentState | None:
        hit = self._states.get((schema, document_id))
        return None if hit is None else hit[0]

    def rows(self, schema: str, document_id: str, state: DocumentState) -> DocumentRows | None:
        """The rows `state` was written as, when it is the very state cached."""
        hit = self._states.get((schema, document_id))
        return hit[1] if hit is not None and hit[0] is state else None

    def counts(self, schema: str, document_id: str, state: DocumentState) -> Counts | None:
        """What `state` counts for (`contributions`), when it is the very state cached."""
        hit = self._states.get((schema, document_id))
        return hit[2] if hit is not None and hit[0] is state else None

    def put(
        self,
        schema: str,
        states: Mapping[str, DocumentState],
        rows: Mapping[str, DocumentRows] | None = None,
        counts: Mapping[str, Counts] | None = None,
    ) -> None:
        for document_id, state in states.items():
            key = (schema, document_id)
            self._states.pop(key, None)  # re-inserted last: the most recently used
            self._states[key] = (
                state,
                None if rows is None else rows.get(document_id),
                None if counts is None else counts.get(document_id),
            )
        while len(self._states) > self.size:
            self._states.popitem(last=False)

    def clear(self) -> None:
        self._states.clear()


FEWER_COLLECTIONS = (50_000, 20, 100)


def collect_less(thresholds: tuple[int, int, int] = FEWER_COLLECTIONS) -> None:
    """Run Python's cyclic garbage collector far less often, for a long-lived process (call it once its
    start-up is done). A process that applies events keeps some 10^5 folded states (millions of objects)
    alive in its state cache, and at the default thresholds (a young collection every 700 allocations, a
    full one every 100 of those) the collector walked them so often that it took a third of the Python
    CPU of applying events (246 against 169 µs per event, 40,000 bench events replayed in batches of
    20,000); the API passes its own thresholds. What is allocated per event or request is freed by
    reference counting; the collector still runs, every `thresholds[0]` allocations."""
    gc.collect()
    gc.freeze()  # what start-up allocated is never scanned again
    gc.set_threshold(*thresholds)


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
    # each changed document's child and listing rows, as written (for the next batch's comparison)
    rows: dict[str, DocumentRows] = field(default_factory=dict)
    counts: dict[str, Counts] = field(default_factory=dict)  # and what it counts for now

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


async def write_event_ids(
    conn: Conn, s: str, ids: Mapping[tuple[str, int], Applied], into: Combined | None = None
) -> None:
    """Record the events applied; `into`: as a part of that statement (a small batch), else by COPY."""
    if ids and into is not None:
        rows = list(ids.items())
        into.add(
            f"""INSERT INTO {s}.event_ids (document_id, version, event_id, digest)
                SELECT * FROM unnest($1::text[], $2::int[], $3::uuid[], $4::bytea[])""",
            [d for (d, _), _ in rows],
            [v for (_, v), _ in rows],
            [i for _, (i, _) in rows],
            [digest for _, (_, digest) in rows],
        )
    elif ids:
        await conn.copy_records_to_table(
            "event_ids",
            records=[(d, v, i, digest) for (d, v), (i, digest) in ids.items()],
            columns=["document_id", "version", "event_id", "digest"],
            schema_name=s,
        )


async def write_documents(
    conn: Conn, s: str, changes: Changes, cache: StateCache | None = None, into: Combined | None = None
) -> None:
    """Write what changed in the rows of the documents `changes` changed: each document's row (its
    version moved), and in every other table only the rows that vanished, appeared or changed, found by
    comparing the rows of the document's state before the batch (from `cache` when it holds that very
    state, else rebuilt from it: rows are a pure function of the state) with those of its state now. One
    statement per table for the whole batch, none for a table nothing changed in. Moves the statistics
    counters by the difference between what the old state counted for (from `cache` likewise) and what
    the new one does. `into` (a small batch, unstaged): the inserts and updates go as parts of that
    statement; the deletes and the counters run at once."""
    states, last_types = changes.changed, changes.last_types
    if not states:
        return
    if not conn.is_in_transaction():  # outside one, the staging tables would be emptied before the merge
        raise RuntimeError("write_documents: call it inside the batch's transaction")
    ids = list(states)
    built: dict[str, DocumentRows] = {}
    for n, i in enumerate(ids, start=1):
        built[i] = document_rows(states[i], last_types[i])
        if not n % 128:
            await asyncio.sleep(0)  # let the other lane and faust's timers run in between
    # kept for the next batch's comparison without the document row (its state as JSON is large)
    changes.rows.update((i, DocumentRows((), b.children, b.listing)) for i, b in built.items())
    # Large batches (the rebuild's, a worker catching up) stage their rows by COPY; a small live batch
    # sends each table as arrays in one statement: fewer round trips where latency is what counts.
    staged = len(ids) >= STAGE_FROM
    if staged:
        await conn.execute(STAGING)
    await _upsert(
        conn, s, "documents", DOCUMENT_COLUMNS, [b.document for b in built.values()], staged, into=into
    )
    gone: dict[str, list[tuple[Any, ...]]] = {}
    fresh: dict[str, list[Row]] = {}
    retext: list[bool] = []  # per fresh listing row: new, or its searched text changed
    for i in ids:
        old = changes.before.get(i)
        was = None
        if old is not None:
            was = cache.rows(s, i, old) if cache is not None else None
            was = was or document_rows(old, "")  # its last event's type: only in the documents row
        now = built[i]
        for table in (*CHILD_TABLES, "listing"):
            old_rows, new_rows = () if was is None else _table_rows(was, table), _table_rows(now, table)
            if old_rows == new_rows or (not old_rows and not new_rows):  # most tables, most events
                continue
            before, after = _keyed(table, old_rows), _keyed(table, new_rows)
            if before == after:
                continue
            gone.setdefault(table, []).extend(k for k in before if k not in after)
            changed = [(r, before.get(k)) for k, r in after.items() if before.get(k) != r]
            fresh.setdefault(table, []).extend(r for r, _ in changed)
            if table == "listing":
                retext += [old is None or old[_SEARCHED] != r[_SEARCHED] for r, old in changed]
    for table, keys in gone.items():
        if keys:
            await _delete(conn, s, table, keys)
    for table, rows in fresh.items():
        if rows:
            columns = LISTING_COLUMNS if table == "listing" else CHILD_TABLES[table][1]
            await _upsert(conn, s, table, columns, rows, staged, retext if table == "listing" else None, into)
    delta: dict[Key, int] = {}
    for i in ids:
        prior = changes.before.get(i)
        counted = None if prior is None or cache is None else cache.counts(s, i, prior)
        changes.counts[i] = counts = contributions(states[i])
        move(delta, contributions(prior) if counted is None else counted, counts)
    await write_delta(conn, s, delta)


# The listing's searched text: its `search` tsvector is computed from these (0070's expression) only when
# a row is new or one of them changed, not on each of the row's many updates (it cost as much as the rest
# of an update); 0077 made it a plain column for that.
_SEARCHED = slice(LISTING_COLUMNS.index("summary"), LISTING_COLUMNS.index("issuing_body") + 1)
assert LISTING_COLUMNS[_SEARCHED.start + 1 : _SEARCHED.stop - 1] == ("title", "number_code")
_SEARCH = (
    "CASE WHEN x.retext THEN to_tsvector('public.vn'::regconfig, coalesce(x.summary, '') || ' ' || "
    "coalesce(x.title, '') || ' ' || coalesce(x.number_code, '') || ' ' || coalesce(x.issuing_body, '')) END"
)


def _table_rows(rows: DocumentRows, table: str) -> Sequence[Row]:
    return rows.listing if table == "listing" else rows.children[table]


def _keyed(table: str, rows: Sequence[Row]) -> dict[tuple[Any, ...], Row]:
    n = len(PRIMARY_KEYS[table])
    return {row[:n]: row for row in rows}


async def _delete(conn: Conn, s: str, table: str, keys: list[tuple[Any, ...]]) -> None:
    pk = PRIMARY_KEYS[table]
    arrays = ", ".join(f"${n}::text[]" for n in range(1, len(pk) + 1))
    match = " AND ".join(f"t.{c} = k.{c}" for c in pk)
    await conn.execute(
        f"DELETE FROM {s}.{table} t USING unnest({arrays}) AS k({', '.join(pk)}) WHERE {match}",
        *[list(c) for c in zip(*keys, strict=True)],
    )


STAGE_FROM = 64  # documents in a batch from which its rows are staged by COPY


async def _upsert(
    conn: Conn,
    s: str,
    table: str,
    columns: Sequence[str],
    rows: list[Row],
    staged: bool,
    retext: list[bool] | None = None,
    into: Combined | None = None,
) -> None:
    """Insert these rows or update the rows with their keys in one statement. `staged`: COPY (binary)
    into the table's staging table (`STAGING`), then one INSERT … ON CONFLICT from it (sending a large
    batch as one array per column cost asyncpg about 40 abstract-class checks per event in Python, one per
    array element); otherwise each column goes as an array (jsonb and array columns as JSON text, turned
    back in SQL). With `retext` (the listing), the search column is computed for the rows it flags and
    kept for the others."""
    pk = PRIMARY_KEYS[table]
    if staged:
        records = rows if retext is None else [(*r, x) for r, x in zip(rows, retext, strict=True)]
        await conn.copy_records_to_table(_stage(table), records=records, schema_name="pg_temp")
        await conn.execute(_merge_sql(s, table, tuple(columns), pk, retext is not None))
        return
    values = [list(c) for c in zip(*rows, strict=True)]
    for n, c in enumerate(columns):
        if COLUMN_TYPES.get(c, "").endswith("[]"):
            values[n] = [json.dumps(v, ensure_ascii=False) for v in values[n]]
    if retext is not None:
        values.append(retext)
    sql = _upsert_sql(s, table, tuple(columns), pk, retext is not None)
    if into is not None:
        into.add(sql, *values)
    else:
        await conn.execute(sql, *values)


@functools.lru_cache(maxsize=256)
def _upsert_sql(
    s: str, table: str, columns: tuple[str, ...], pk: tuple[str, ...], search: bool = False
) -> str:
    def sent(c: str) -> str:  # the type each column is sent as
        kind = COLUMN_TYPES.get(c, "text")
        return "text" if kind == "jsonb" or kind.endswith("[]") else kind

    def read(c: str) -> str:
        kind = COLUMN_TYPES.get(c, "text")
        if kind == "jsonb":
            return f"x.{c}::jsonb"
        if kind.endswith("[]"):
            return (
                f"ARRAY(SELECT e FROM jsonb_array_elements_text(x.{c}::jsonb) WITH ORDINALITY AS a(e, n) "
                "ORDER BY n)"
            )
        return f"x.{c}"

    arrays = ", ".join(f"${n}::{sent(c)}[]" for n, c in enumerate(columns, 1))
    names = ", ".join(columns)
    if search:
        arrays += f", ${len(columns) + 1}::boolean[]"
        names += ", retext"
    reads = ", ".join(read(c) for c in columns)
    return _insert_sql(s, table, columns, pk, search, reads, f"unnest({arrays}) AS x({names})")


def _insert_sql(
    s: str, table: str, columns: tuple[str, ...], pk: tuple[str, ...], search: bool, reads: str, source: str
) -> str:
    """INSERT … ON CONFLICT of `columns` read (`reads`, over `x`) from `source`; with `search`, the
    listing's search column too, computed where `x.retext` says and kept elsewhere."""
    sets = [f"{c} = EXCLUDED.{c}" for c in columns if c not in pk]
    into = ", ".join(columns)
    if search:
        into += ", search"
        reads += ", " + _SEARCH
        sets.append("search = coalesce(EXCLUDED.search, t.search)")
    action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    return (
        f"INSERT INTO {s}.{table} AS t ({into}) SELECT {reads} FROM {source} "
        f"ON CONFLICT ({', '.join(pk)}) {action}"
    )


def _stage(table: str) -> str:
    return f"vanthu_stage_{table}"


def _sent(c: str) -> str:
    """The type a column is staged as: its own, except jsonb (sent as text, the state's JSON as is)."""
    kind = COLUMN_TYPES.get(c, "text")
    return "text" if kind == "jsonb" else kind


def _staging_sql() -> str:
    tables = {"documents": DOCUMENT_COLUMNS, **{t: c for t, (_, c) in CHILD_TABLES.items()}}
    tables["listing"] = (*LISTING_COLUMNS, "retext")
    creates = []
    for table, columns in tables.items():
        defined = ", ".join(f"{c} {'boolean' if c == 'retext' else _sent(c)}" for c in columns)
        creates.append(
            f"IF to_regclass('pg_temp.{_stage(table)}') IS NULL THEN "
            f"CREATE TEMP TABLE {_stage(table)} ({defined}) ON COMMIT DELETE ROWS; END IF;"
        )
    return "DO $$BEGIN " + " ".join(creates) + " END$$"


# The staging tables of the rows a batch writes: temporary tables of the connection, empty outside a
# transaction; created in the batch's transaction by one statement when the connection has none yet.
STAGING = _staging_sql()


@functools.lru_cache(maxsize=256)
def _merge_sql(
    s: str, table: str, columns: tuple[str, ...], pk: tuple[str, ...], search: bool = False
) -> str:
    reads = ", ".join(f"x.{c}::jsonb" if COLUMN_TYPES.get(c) == "jsonb" else f"x.{c}" for c in columns)
    return _insert_sql(s, table, columns, pk, search, reads, f"pg_temp.{_stage(table)} x")
