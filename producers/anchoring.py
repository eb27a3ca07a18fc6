"""Anchors: a chained hash over each block of settled global positions.

A position is settled once no transaction that could still commit an event at or below it is running.
Appenders hold the APPEND advisory lock shared from just before taking positions until they end; the
anchorer takes it exclusive for an instant, so when it holds it every position handed out so far belongs
to a finished transaction, and the sequence's last value is the settled watermark. Blocks cover fixed
ranges of position numbers (BLOCK per anchor) and name the holes that rolled-back appends left, so a
deleted event — a whole document's events included — is missing from a range its anchor vouches for.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from deploy.config.db import Conn
from producers.hashing import GENESIS, anchor_hash
from producers.locks import ANCHOR, APPEND, LOCK_CLASS

BLOCK = 1000  # positions per anchor


@dataclass(frozen=True, slots=True)
class Anchor:
    seq: int
    first_position: int
    last_position: int
    event_count: int
    skipped: tuple[int, ...]
    prev_hash: bytes
    hash: bytes


async def settled_position(conn: Conn, lock_timeout_ms: int = 2000) -> int | None:
    """The highest position no running transaction can still commit below, or None if appenders are slow."""
    try:
        async with conn.transaction():
            # Bounded: while this waits, new appenders queue behind it.
            await conn.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_CLASS, APPEND)
            row = await conn.fetchrow("SELECT last_value, is_called FROM events_position_seq")
    except asyncpg.LockNotAvailableError:
        return None
    assert row is not None
    return int(row["last_value"]) if row["is_called"] else 0


async def last_anchor(conn: Conn) -> Anchor | None:
    row = await conn.fetchrow("SELECT * FROM anchors ORDER BY seq DESC LIMIT 1")
    return None if row is None else _anchor(row)


def _anchor(row: asyncpg.Record) -> Anchor:
    return Anchor(
        row["seq"],
        row["first_position"],
        row["last_position"],
        row["event_count"],
        tuple(row["skipped"]),
        bytes(row["prev_hash"]),
        bytes(row["hash"]),
    )


async def _block(
    conn: Conn, seq: int, start: int, end: int, prev: bytes, max_age_s: float = 1e9
) -> tuple[Anchor, bool]:
    """The anchor over positions start..end as the store holds them now, and whether its oldest event is
    older than `max_age_s`."""
    rows = await conn.fetch(
        "SELECT position, hash, recorded_at < clock_timestamp() - make_interval(secs => $3) AS old "
        "FROM events WHERE position BETWEEN $1 AND $2 ORDER BY position",
        start,
        end,
        max_age_s,
    )
    present = {r["position"] for r in rows}
    skipped = tuple(p for p in range(start, end + 1) if p not in present)
    digest = anchor_hash(prev, start, end, skipped, ((r["position"], bytes(r["hash"])) for r in rows))
    return Anchor(seq, start, end, len(rows), skipped, prev, digest), bool(rows and rows[0]["old"])


async def anchor(
    conn: Conn, *, max_age_s: float | None = 60.0, force: bool = False, settled: int | None = None
) -> list[Anchor]:
    """Anchor every full block of settled positions (up to `settled` when the caller measured it), and a
    partial last block when it is `force`d or its oldest event is older than `max_age_s`. Returns the
    anchors written."""
    if settled is None:
        settled = await settled_position(conn)
    if settled is None:
        return []
    written: list[Anchor] = []
    max_age = max_age_s if max_age_s is not None else 1e9
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_CLASS, ANCHOR)
        last = await last_anchor(conn)
        seq, start, prev = (
            (1, 1, GENESIS) if last is None else (last.seq + 1, last.last_position + 1, last.hash)
        )
        while start <= settled:
            end = min(start + BLOCK - 1, settled)
            block, old = await _block(conn, seq, start, end, prev, max_age)
            if end - start + 1 < BLOCK and not force and not old:
                break
            await conn.execute(
                "INSERT INTO anchors (seq, first_position, last_position, event_count, skipped, "
                "prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                seq,
                start,
                end,
                block.event_count,
                list(block.skipped),
                prev,
                block.hash,
            )
            written.append(block)
            seq, start, prev = seq + 1, end + 1, block.hash
    return written


async def head(conn: Conn, settled: int | None = None) -> Anchor | None:
    """The running head: what an anchor over the settled positions after the last anchor would say now,
    written nowhere in the database (None: appenders are slow). Its `seq` is the next anchor's; a head
    with nothing after the last anchor has last_position = first_position - 1 and no events."""
    if settled is None:
        settled = await settled_position(conn)
    if settled is None:
        return None
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        last = await last_anchor(conn)
        seq, start, prev = (
            (1, 1, GENESIS) if last is None else (last.seq + 1, last.last_position + 1, last.hash)
        )
        block, _ = await _block(conn, seq, start, max(settled, start - 1), prev)
    return block
