"""Deadline chasing (đôn đốc): append one system event when an open assignment becomes due soon and one
when it becomes overdue, so the chasing is part of the record. Statuses themselves are computed when read."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from processors.schema import LIVE_SCHEMA
from processors.writeside import WriteSide, system_actor
from producers.errors import IdempotencyKeyReused
from producers.handler import HandleRequest
from schemas.calendar import Calendar, default_calendar
from schemas.commands import MarkDeadlineApproaching, MarkDeadlineMissed
from schemas.deadlines import deadline_status, local_date
from schemas.decider import DomainError

log = logging.getLogger(__name__)
CHASE_LOCK = 0x76616E7468_6368


@dataclass
class ChaseRun:
    approaching: int = 0
    missed: int = 0
    failed: int = 0


async def chase(
    pool: asyncpg.Pool,
    ws: WriteSide,
    now: datetime,
    due_soon_days: int,
    calendar: Calendar | None = None,
) -> ChaseRun:
    """Mark every open assignment that is due soon or overdue today and not yet marked. `due_soon_days`
    is the default window; an office of `ws.offices` may set its own (DOMAIN.md)."""
    cal = calendar or default_calendar()
    today: date = local_date(now)

    def window(office_id: str | None) -> int:
        return ws.offices.due_soon_days(office_id, due_soon_days)

    widest = max([due_soon_days, *(o.due_soon_days or 0 for o in ws.offices)])
    horizon = cal.add_working_days(today, widest)
    run = ChaseRun()
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", CHASE_LOCK):
            return run
        try:
            rows = await conn.fetch(
                f"""SELECT document_id, assignment_id, office_id, due_date, approaching_marked, missed_marked
                    FROM {LIVE_SCHEMA}.assignments
                    WHERE ended_at IS NULL AND due_date <= $1 AND NOT (approaching_marked AND missed_marked)
                    ORDER BY due_date, document_id""",
                horizon,
            )
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", CHASE_LOCK)
    for r in rows:
        status = deadline_status(r["due_date"], today, None, window(r["office_id"]), cal)
        due = r["due_date"].isoformat()
        marks: list[tuple[MarkDeadlineApproaching | MarkDeadlineMissed, str]] = []
        if status == "due_soon" and not r["approaching_marked"]:
            marks.append((MarkDeadlineApproaching(assignment_id=r["assignment_id"]), "approaching"))
        if status == "overdue" and not r["missed_marked"]:
            marks.append((MarkDeadlineMissed(assignment_id=r["assignment_id"]), "missed"))
        for command, what in marks:
            try:
                request = HandleRequest(
                    command,
                    document_id=r["document_id"],
                    expected_version=None,
                    actor=system_actor(r["office_id"] or ""),
                    idempotency_key=f"deadline-{what}:{r['document_id']}:{r['assignment_id']}:{due}",
                    now=now,
                )
                await ws.handle(pool, request)
                if what == "approaching":
                    run.approaching += 1
                else:
                    run.missed += 1
            except (DomainError, IdempotencyKeyReused) as exc:
                log.info("chaser: %s on %s not needed: %s", what, r["document_id"], exc)
            except Exception as exc:
                log.warning("chaser: %s on %s failed: %r", what, r["document_id"], exc)
                run.failed += 1
    return run
