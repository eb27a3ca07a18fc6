"""The event store's reads and writes: load a document's stream, append envelopes with their hashes."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deploy.config.db import Conn
from producers.hashing import GENESIS, event_hash
from producers.locks import APPEND, CHANNEL, LOCK_CLASS
from schemas.acts import is_act_stream
from schemas.envelope import Envelope
from schemas.evolve import fold
from schemas.state import DocumentState, initial_state

log = logging.getLogger(__name__)
SNAPSHOT_EVERY = 100  # events between snapshots of a stream


@dataclass(frozen=True, slots=True)
class Stream:
    """A document's state as loaded, with what the next append chains from."""

    state: DocumentState
    last_hash: bytes
    last_position: int | None  # None when loaded from a snapshot with nothing after it


@dataclass(frozen=True, slots=True)
class Appended:
    envelope: Envelope
    position: int
    hash: bytes


async def load(conn: Conn, document_id: str, up_to: int | None = None, known: Stream | None = None) -> Stream:
    """The document at its latest version (or at `up_to`), from the newest usable snapshot onward.

    `known`: the document as this process last saw it. It is used only if the store still holds that
    version with the same hash; then only the events after it are read and decoded (none, usually)."""
    if is_act_stream(document_id):  # an office's or a calendar's acts: no document
        return Stream(initial_state(document_id), GENESIS, None)
    if known is not None and up_to is None and known.state.version > 0:
        rows = await conn.fetch(
            "SELECT position, body, hash, version FROM events WHERE stream_id = $1 AND version >= $2 "
            "ORDER BY version",
            document_id,
            known.state.version,
        )
        if rows and rows[0]["version"] == known.state.version and bytes(rows[0]["hash"]) == known.last_hash:
            if len(rows) == 1:
                return Stream(known.state, known.last_hash, rows[0]["position"])
            state = fold((Envelope.from_json(r["body"]) for r in rows[1:]), known.state)
            return Stream(state, bytes(rows[-1]["hash"]), rows[-1]["position"])
    limit = up_to if up_to is not None else 2**31 - 1
    # A snapshot is used only where it names its event's hash: one that does not sits off the chain.
    snap = await conn.fetchrow(
        "SELECT s.version, s.state, s.hash, sha256(convert_to(s.state::text, 'UTF8')) AS digest "
        "FROM snapshots s JOIN events e ON e.stream_id = s.stream_id AND e.version = s.version "
        "AND e.hash = s.hash WHERE s.stream_id = $1 AND s.version <= $2 ORDER BY s.version DESC LIMIT 1",
        document_id,
        limit,
    )
    state = initial_state(document_id)
    last_hash, after = GENESIS, 0
    unproven = None
    if snap is not None:
        if (bytes(snap["hash"]), bytes(snap["digest"])) in _proven:
            state, last_hash, after = DocumentState.from_dict(snap["state"]), snap["hash"], snap["version"]
        else:
            unproven = snap  # folded from the first event below, and compared on the way
    rows = await conn.fetch(
        "SELECT position, version, body, hash FROM events WHERE stream_id = $1 AND version > $2 "
        "AND version <= $3 ORDER BY version",
        document_id,
        after,
        limit,
    )
    if unproven is not None:
        head = [r for r in rows if r["version"] <= unproven["version"]]
        state = fold((Envelope.from_json(r["body"]) for r in head), state)
        _prove(document_id, unproven, state)
        state = fold((Envelope.from_json(r["body"]) for r in rows[len(head) :]), state)
    elif rows:
        state = fold((Envelope.from_json(r["body"]) for r in rows), state)
    if not rows:
        return Stream(state, last_hash, None)
    return Stream(state, rows[-1]["hash"], rows[-1]["position"])


async def is_last(conn: Conn, stream: Stream) -> bool:
    """Whether `stream` (a state this process kept) is still the document's latest event in the store."""
    row = await conn.fetchrow(
        "SELECT version, hash FROM events WHERE stream_id = $1 ORDER BY version DESC LIMIT 1",
        stream.state.id,
    )
    if row is None:
        return False
    return bool(row["version"] == stream.state.version and bytes(row["hash"]) == stream.last_hash)


# Snapshots this process has seen to be the fold of their events, as (event hash, sha256 of the state's
# jsonb text). The event hash chains every earlier event of the stream, so the pair holds in any store.
_proven: set[tuple[bytes, bytes]] = set()
_PROVEN_MAX = 100_000


def _prove(document_id: str, snap: Any, folded: DocumentState) -> None:
    """Trust `snap` from now on if it is `folded`; say so loudly if not (the fold is used either way)."""
    if snapshot_matches(snap["state"], folded):
        if len(_proven) >= _PROVEN_MAX:
            _proven.clear()
        _proven.add((bytes(snap["hash"]), bytes(snap["digest"])))
    else:
        log.error(
            "the snapshot of %s at v%d is not its events folded (altered or forged): not used; "
            "`vanthu audit verify` names it",
            document_id,
            snap["version"],
        )


def snapshot_matches(stored: Any, state: DocumentState) -> bool:
    """Whether a snapshot's stored state (decoded jsonb) is `state`: the comparison of load and verify."""
    return bool(stored == json.loads(json.dumps(state.to_dict(), ensure_ascii=False)))


async def history(conn: Conn, document_id: str) -> list[Appended]:
    """Every event of a document as stored, in version order (empty: no such stream)."""
    rows = await conn.fetch(
        "SELECT position, body, hash FROM events WHERE stream_id = $1 ORDER BY version", document_id
    )
    return [Appended(Envelope.from_json(r["body"]), r["position"], bytes(r["hash"])) for r in rows]


async def state_at(conn: Conn, document_id: str, moment: datetime) -> DocumentState | None:
    """The document folded from its events up to the first that occurred after `moment` (None: none
    before). Versions, not times, order a history: an event stamped earlier than the one before it (a
    clock that lagged, in a store older than `handle` taking the later time) does not jump the queue."""
    if is_act_stream(document_id):
        return None
    rows = await conn.fetch(
        "SELECT body FROM events WHERE stream_id = $1 AND version < coalesce("
        "(SELECT min(version) FROM events WHERE stream_id = $1 AND occurred_at > $2), 2147483647) "
        "ORDER BY version",
        document_id,
        moment,
    )
    if not rows:
        return None
    return fold(Envelope.from_json(r["body"]) for r in rows)


async def stream_version_at(conn: Conn, position: int) -> tuple[str, int] | None:
    """The stream and version of the event at `position` (None: no event has it)."""
    row = await conn.fetchrow("SELECT stream_id, version FROM events WHERE position = $1", position)
    return None if row is None else (row["stream_id"], row["version"])


async def outbox_backlog(conn: Conn) -> int:
    """Stored events the relay has not yet seen acknowledged by Kafka."""
    return int(await conn.fetchval("SELECT count(*) FROM outbox"))


async def append(
    conn: Conn,
    envelopes: Sequence[Envelope],
    prev_hash: bytes,
    *,
    notify: bool = True,
    chained: bool = False,
) -> list[Appended]:
    """Insert `envelopes` (one document, consecutive versions) and queue them for the relay, in one
    statement: atomic on its own, or part of the caller's transaction.

    Raises asyncpg.UniqueViolationError when another transaction took one of these versions first.
    `notify=False` leaves waking the relay to the caller, after the commit: a NOTIFY inside the appending
    transaction makes its commit queue behind every other notifying commit, so appends cannot commit
    together. `chained=True` (the caller did not read the stream: its state came from a cache) inserts
    only if the store holds the version before the first envelope with hash `prev_hash`, and returns []
    (nothing written) if not.
    """
    bodies, hashes, prevs = [], [], []
    for envelope in envelopes:
        body = envelope.canonical_bytes()
        prevs.append(prev_hash)
        prev_hash = event_hash(prev_hash, body)
        bodies.append(body)
        hashes.append(prev_hash)
    # Shared with other appenders, exclusive for the anchorer: once it holds the lock, every position
    # already handed out belongs to a finished transaction. The lock is taken (the `settle` row joined to
    # every inserted row) before the rows' positions are, and held until the transaction ends.
    positions = await conn.fetch(
        f"""
        WITH settle AS MATERIALIZED (
            SELECT pg_advisory_xact_lock_shared($10, $11){", pg_notify($12, '')" if notify else ""}
            {_CHAINED if chained else ""})
        , ins AS (
            INSERT INTO events (stream_id, version, event_id, type, schema_version, occurred_at,
                                body, prev_hash, hash)
            SELECT $1, v, i, t, s, o, b, p, h
            FROM unnest($2::int[], $3::uuid[], $4::text[], $5::int[], $6::timestamptz[],
                        $7::bytea[], $8::bytea[], $9::bytea[]) AS u(v, i, t, s, o, b, p, h), settle
            ORDER BY v
            RETURNING position, version)
        , queued AS (INSERT INTO outbox (position) SELECT position FROM ins)
        SELECT position FROM ins ORDER BY version
        """,
        envelopes[0].stream_id,
        [e.version for e in envelopes],
        [e.event_id for e in envelopes],
        [e.type for e in envelopes],
        [e.schema_version for e in envelopes],
        [e.occurred_at for e in envelopes],
        bodies,
        prevs,
        hashes,
        LOCK_CLASS,
        APPEND,
        *([CHANNEL] if notify else []),
    )
    if not positions:  # `chained` and the store's stream is not where the caller thought it was
        return []
    return [Appended(e, r["position"], h) for e, r, h in zip(envelopes, positions, hashes, strict=True)]


# The previous event, as the caller's cached state says it is: no row, no lock taken, nothing inserted.
_CHAINED = (
    "WHERE EXISTS (SELECT 1 FROM events WHERE stream_id = $1 AND version = ($2::int[])[1] - 1 "
    "AND hash = ($8::bytea[])[1])"
)


async def save_snapshot(conn: Conn, state: DocumentState) -> None:
    """Keep `state` as its stream's snapshot, in the transaction that appended its last event (the only one
    the database accepts it from; it takes the event's hash itself)."""
    await conn.execute(
        "SELECT public.vanthu_save_snapshot($1, $2, $3)", state.id, state.version, state.to_dict()
    )


async def wake_relay(conn: Conn) -> None:
    """Tell the relay that events were committed (it also polls, slowly, in case a wake-up is lost)."""
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)


def snapshot_due(before: int, after: int) -> bool:
    """A snapshot is kept each time a stream passes a multiple of SNAPSHOT_EVERY."""
    return after // SNAPSHOT_EVERY > before // SNAPSHOT_EVERY
