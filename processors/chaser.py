"""Deadline chasing (đôn đốc): append one system event when an open assignment becomes due soon and one
when it becomes overdue, so the chasing is part of the record. Statuses themselves are computed when read."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from processors.schema import LIVE_SCHEMA
from processors.writeside import WriteSide, system_actor
from producers.acts import load_calendar
from producers.errors import IdempotencyKeyReused
from producers.handler import HandleRequest
from schemas.calendar import Calendar
from schemas.commands import MarkDeadlineApproaching, MarkDeadlineMissed, MarkIntakeOverdue, MarkIssueOverdue
from schemas.deadlines import deadline_status, intake_late, issue_due, local_date
from schemas.decider import DomainError
from schemas.enums import Urgency
from schemas.state import DocumentState

log = logging.getLogger(__name__)
CHASE_LOCK = 0x76616E7468_6368


@dataclass
class ChaseRun:
    approaching: int = 0
    missed: int = 0
    intake: int = 0  # documents chased for registration and hand-over
    issue: int = 0  # signed documents chased for issue
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
    today: date = local_date(now)

    def window(office_id: str | None) -> int:
        return ws.offices.due_soon_days(office_id, due_soon_days)

    widest = max([due_soon_days, *(o.due_soon_days or 0 for o in ws.offices)])
    run = ChaseRun()
    async with pool.acquire() as conn:
        cal = calendar or await load_calendar(conn)  # the published calendar, as it is now
        horizon = cal.add_working_days(today, widest)
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
            # Intake (not yet handed over) and issue (signed, not issued) are chased like deadlines.
            pending = await conn.fetch(
                f"""SELECT id, kind, office_id, data FROM {LIVE_SCHEMA}.documents
                    WHERE (kind = 'incoming' AND state IN ('received', 'registered')
                           AND coalesce((data ->> 'intake_overdue_marked')::boolean, false) = false)
                       OR (kind = 'outgoing' AND state = 'signed'
                           AND coalesce((data ->> 'issue_overdue_marked')::boolean, false) = false)
                    ORDER BY id"""
            )
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", CHASE_LOCK)
    for p in pending:
        state = DocumentState.from_dict(p["data"])
        chase_one: MarkIntakeOverdue | MarkIssueOverdue
        if p["kind"] == "incoming":
            received = state.received_on or (local_date(state.created_at) if state.created_at else today)
            urgent = state.urgency is not None and state.urgency is not Urgency.THUONG
            if not intake_late(received, urgent, today, cal):
                continue
            chase_one, what = MarkIntakeOverdue(), "intake"
        else:
            if state.signed_on is None or today <= issue_due(state.signed_on, cal):
                continue
            chase_one, what = MarkIssueOverdue(), "issue"
        try:
            await ws.handle(
                HandleRequest(
                    chase_one,
                    document_id=p["id"],
                    expected_version=None,
                    actor=system_actor(p["office_id"] or ""),
                    idempotency_key=f"{what}-overdue:{p['id']}",
                    now=now,
                ),
            )
            if what == "intake":
                run.intake += 1
            else:
                run.issue += 1
        except (DomainError, IdempotencyKeyReused) as exc:
            log.info("chaser: %s on %s not needed: %s", what, p["id"], exc)
        except Exception as exc:
            log.warning("chaser: %s on %s failed: %r", what, p["id"], exc)
            run.failed += 1
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
                await ws.handle(request)
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
