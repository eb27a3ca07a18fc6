"""Dead letters: records that could not be decoded or applied, listed, retried after a fix, or settled
by an operator: parked (set aside, the document's later events go on) or skipped (the read model takes
the record's version without its change)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deploy.config.db import Conn
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
from processors.records import Record
from processors.schema import LIVE_SCHEMA, SWAP_LOCK, schema_name
from processors.tasks import write_tasks
from schemas.envelope import Envelope


@dataclass
class DeadLetter:
    """A record the projector could not apply, with why; stored so that it can be retried."""

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


async def write_dead_letters(conn: Conn, s: str, dead: Sequence[DeadLetter]) -> None:
    if dead:
        await conn.executemany(
            f"""INSERT INTO {s}.dead_letters (topic, partition, "offset", document_id, version, event_type,
                    reason, error, key, value, headers)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                ON CONFLICT DO NOTHING""",
            [d.row() for d in dead],
        )


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
        changes = Changes(
            await load_states(conn, s, ids, StateCache(0)),
            event_ids=await load_event_ids(conn, s, [e for _, e, _ in letters if e is not None]),
        )
        stopped: set[str] = set()
        resolved: list[tuple[str, int, int]] = []
        errors: list[tuple[str, int, int, str]] = []
        for row, envelope, error in letters:
            key = (row["topic"], row["partition"], row["offset"])
            if envelope is None:
                errors.append((*key, error or ""))
                continue
            if envelope.stream_id in stopped:
                continue
            try:
                changes.apply(envelope, _record(row), effects=s == LIVE_SCHEMA)
            except Refused as refused:
                errors.append((*key, refused.error))
                if refused.reason != "conflict":
                    stopped.add(envelope.stream_id)
                continue
            resolved.append(key)  # applied now, or the document already had it
        await write_documents(conn, s, changes)
        await write_event_ids(conn, s, changes.new_ids)
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
        await write_tasks(conn, changes.tasks)
        await write_feed(conn, changes.notes)
        result.resolved, result.still_open = len(resolved), len(rows) - len(resolved)
    return result


Letter = tuple[str, int, int]  # topic, partition, offset


def parse_letter(text: str) -> Letter:
    """`topic:partition@offset`, as `vanthu deadletters` lists them."""
    topic, sep, rest = text.rpartition(":")
    partition, at, offset = rest.partition("@")
    if not sep or not at or not topic or not partition.isdigit() or not offset.isdigit():
        raise ValueError(f"{text!r}: a letter is named topic:partition@offset")
    return topic, int(partition), int(offset)


def letter_name(letter: Letter) -> str:
    return f"{letter[0]}:{letter[1]}@{letter[2]}"


@dataclass
class Settled:
    letter: Letter
    action: str  # parked | skipped
    document_id: str | None
    version: int | None
    event_id: str | None
    then: RetryResult  # the document's other open letters, retried after it


class SettleError(ValueError):
    """A settle refused; the message says why."""


async def first_open_letter(conn: Conn, document_id: str, schema: str = LIVE_SCHEMA) -> Letter | None:
    """The document's open letter that blocks the others (the first not itself only blocked)."""
    s = schema_name(schema)
    row = await conn.fetchrow(
        f"""SELECT topic, partition, "offset" FROM {s}.dead_letters
            WHERE status = 'open' AND document_id = $1
            ORDER BY reason = 'blocked', version NULLS FIRST, topic, partition, "offset" LIMIT 1""",
        document_id,
    )
    return None if row is None else (row["topic"], row["partition"], row["offset"])


async def settle(conn: Conn, letter: Letter, action: str, reason: str, schema: str = LIVE_SCHEMA) -> Settled:
    """Park or skip one open letter (recording `reason` on it), then retry its document's other letters.
    Recording it in the document's history is the caller's (deploy/cli.py), on the write side."""
    if action not in ("park", "skip"):
        raise SettleError(f"{action}: settle parks or skips")
    s = schema_name(schema)
    status = "parked" if action == "park" else "skipped"
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SWAP_LOCK)
        row = await conn.fetchrow(
            f"""SELECT * FROM {s}.dead_letters WHERE topic = $1 AND partition = $2 AND "offset" = $3
                FOR UPDATE""",
            *letter,
        )
        if row is None or row["status"] != "open":
            raise SettleError(f"{letter_name(letter)}: no open dead letter there")
        try:
            envelope: Envelope | None = Envelope.from_json(row["value"])
        except Exception:
            envelope = None
        if action == "skip" and envelope is not None:
            changes = Changes(
                await load_states(conn, s, [envelope.stream_id], StateCache(0)),
                event_ids=await load_event_ids(conn, s, [envelope]),
            )
            try:
                changes.pass_over(envelope, _record(row))
            except Refused as refused:
                raise SettleError(f"{letter_name(letter)}: {refused.error}") from refused
            await write_documents(conn, s, changes)
            await write_event_ids(conn, s, changes.new_ids)
        await conn.execute(
            f"""UPDATE {s}.dead_letters SET status = $4, resolved_at = clock_timestamp(),
                    error = error || $5
                WHERE topic = $1 AND partition = $2 AND "offset" = $3""",
            *letter,
            status,
            f" | {status}: {reason}",
        )
    document = row["document_id"]
    then = await retry(conn, schema, document) if document is not None else RetryResult()
    return Settled(
        letter,
        status,
        document,
        envelope.version if envelope else row["version"],
        str(envelope.event_id) if envelope else None,
        then,
    )
