"""Dead letters: records that could not be decoded or applied, listed and retried after a fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from processors.apply import (
    LIVE_SCHEMA,
    SWAP_LOCK,
    Conn,
    StateCache,
    load_states,
    schema_name,
    write_documents,
    write_effects,
)
from processors.records import Record
from processors.tasks import Task, notifications, saga_tasks
from schemas.envelope import Envelope
from schemas.evolve import evolve
from schemas.state import DocumentState, initial_state


@dataclass
class RetryResult:
    resolved: int = 0
    still_open: int = 0


async def list_dead_letters(
    conn: Conn, status: str | None = "open", schema: str = LIVE_SCHEMA
) -> list[dict[str, Any]]:
    s = schema_name(schema)
    rows = await conn.fetch(
        f"""SELECT topic, partition, "offset", document_id, version, event_type, reason, error, status,
                   created_at, resolved_at, length(value) AS size
            FROM {s}.dead_letters WHERE $1::text IS NULL OR status = $1
            ORDER BY topic, partition, "offset" """,
        status,
    )
    return [dict(r) for r in rows]


def _record(row: Any) -> Record:
    headers = {k: str(v).encode() for k, v in (row["headers"] or {}).items()}
    return Record(row["topic"], row["partition"], row["offset"], row["key"], row["value"], headers)


async def retry(conn: Conn, schema: str = LIVE_SCHEMA, document_id: str | None = None) -> RetryResult:
    """Apply open dead letters in offset order, per document, with the current code; stop a document at
    its first letter that still fails. Holds the swap lock, so live batches wait for it."""
    s = schema_name(schema)
    result = RetryResult()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SWAP_LOCK)
        rows = await conn.fetch(
            f"""SELECT * FROM {s}.dead_letters
                WHERE status = 'open' AND ($1::text IS NULL OR document_id = $1)
                ORDER BY topic, partition, "offset" FOR UPDATE""",
            document_id,
        )
        letters: list[tuple[Any, Envelope | None, str | None]] = []
        for row in rows:
            try:
                envelope: Envelope | None = Envelope.from_json(row["value"])
                error = None
            except Exception as exc:
                envelope, error = None, f"{type(exc).__name__}: {exc}"
            letters.append((row, envelope, error))
        # Per document in version order: a missing event may have arrived (and been parked) after later ones.
        letters.sort(key=lambda item: (0, item[1].stream_id, item[1].version) if item[1] else (1, "", 0))
        ids = sorted({e.stream_id for _, e, _ in letters if e is not None})
        states = await load_states(conn, s, ids, StateCache(0))
        new_states: dict[str, DocumentState] = {}
        last_types: dict[str, str] = {}
        stopped: set[str] = set()
        tasks: list[Task] = []
        notes: list[dict[str, Any]] = []
        resolved: list[tuple[str, int, int]] = []
        errors: list[tuple[str, int, int, str]] = []
        for row, envelope, error in letters:
            key = (row["topic"], row["partition"], row["offset"])
            if envelope is None:
                errors.append((*key, error or ""))
                continue
            doc = envelope.stream_id
            if doc in stopped:
                continue
            before = states.get(doc) or initial_state(doc)
            if envelope.version <= before.version:
                resolved.append(key)
                continue
            if envelope.version > before.version + 1:
                errors.append((*key, f"version gap: expected {before.version + 1}, got {envelope.version}"))
                stopped.add(doc)
                continue
            try:
                after = evolve(before, envelope)
            except Exception as exc:
                errors.append((*key, f"{type(exc).__name__}: {exc}"))
                stopped.add(doc)
                continue
            states[doc] = new_states[doc] = after
            last_types[doc] = envelope.type
            resolved.append(key)
            tasks += saga_tasks(before, after, envelope)
            notes += notifications(after, envelope, _record(row))
        await write_documents(conn, s, new_states, last_types)
        await conn.executemany(
            f"""UPDATE {s}.dead_letters SET status = 'resolved', resolved_at = clock_timestamp()
                WHERE topic = $1 AND partition = $2 AND "offset" = $3""",
            resolved,
        )
        await conn.executemany(
            f"""UPDATE {s}.dead_letters SET error = $4
                WHERE topic = $1 AND partition = $2 AND "offset" = $3""",
            errors,
        )
        if s == LIVE_SCHEMA:
            await write_effects(conn, tasks, notes)
        result.resolved, result.still_open = len(resolved), len(rows) - len(resolved)
    return result
