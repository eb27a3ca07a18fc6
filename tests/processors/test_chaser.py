"""Deadline chasing through the write side: one DeadlineApproached and one DeadlineMissed per
assignment, however often the chaser runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from deploy.config.db import create_pool
from processors.apply import apply_batch
from processors.chaser import chase
from processors.records import Record
from processors.writeside import WriteSide
from schemas.envelope import Actor
from schemas.parsing import parse_action, parse_create
from tests.processors.workload import incoming_body
from tests.toolkit import OFFICES

MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


async def _project(db: Any) -> None:
    """Apply every stored event to the read models (what relay + worker do), offsets by position."""
    rows = await db.fetch("SELECT position, stream_id, body FROM events ORDER BY position")
    records = [Record("events", 0, i, r["stream_id"].encode(), bytes(r["body"])) for i, r in enumerate(rows)]
    await apply_batch(db, records, strict_offsets=False)


async def test_chasing_appends_one_event_per_threshold(database: str, db: Any) -> None:
    from producers.handler import HandleRequest, handle

    office = next(o for o in OFFICES if o.due_soon_days is None).id  # the default window applies
    clerk = Actor(user="u-clerk", office=office, roles=("clerk", "leader"))
    pool = await create_pool(database)
    ws = WriteSide(OFFICES, pool)
    try:
        create = parse_create(incoming_body(office))
        v = (
            await handle(
                pool,
                HandleRequest(create, document_id="d1", expected_version=0, actor=clerk, now=MONDAY),
                OFFICES,
            )
        ).state.version
        assign = {"action": "assign", "lead": {"unit": "u1"}, "cooperating": [], "directive": "",
                  "deadline": {"working_days": 3}}  # fmt: skip
        for body in ({"action": "register"}, {"action": "submit"}, assign):
            command = parse_action("incoming", body)
            result = await handle(
                pool,
                HandleRequest(command, document_id="d1", expected_version=v, actor=clerk, now=MONDAY),
                OFFICES,
            )
            v = result.state.version
        await _project(db)
        assert (await chase(pool, ws, MONDAY, due_soon_days=2)).approaching == 0  # 3 working days left
        wednesday = MONDAY + timedelta(days=2)
        assert (await chase(pool, ws, wednesday, due_soon_days=2)).approaching == 1
        await chase(pool, ws, wednesday, due_soon_days=2)  # before the read models caught up: a replay
        await _project(db)
        assert (await chase(pool, ws, wednesday, due_soon_days=2)).approaching == 0
        next_week = MONDAY + timedelta(days=7)
        assert (await chase(pool, ws, next_week, due_soon_days=2)).missed == 1
        await _project(db)
        await chase(pool, ws, next_week + timedelta(days=1), due_soon_days=2)
        types = [
            r["type"]
            for r in await db.fetch("SELECT type FROM events WHERE stream_id = 'd1' ORDER BY version")
        ]
        assert types.count("DeadlineApproached") == 1 and types.count("DeadlineMissed") == 1
        marked = await db.fetchrow("SELECT approaching_marked, missed_marked FROM rm.assignments")
        assert tuple(marked) == (True, True)
    finally:
        await pool.close()


async def test_intake_and_issue_are_chased_once_when_late(database: str, db: Any) -> None:
    from producers.handler import HandleRequest, handle

    office = next(iter(OFFICES)).id
    clerk = Actor(user="u-clerk", office=office, roles=("clerk", "leader", "specialist"))
    pool = await create_pool(database)
    ws = WriteSide(OFFICES, pool)

    async def run(document_id: str, bodies: list[dict[str, Any]], create: dict[str, Any]) -> None:
        v = 0
        for n, body in enumerate([create, *bodies]):
            command = parse_create(body) if n == 0 else parse_action(create["kind"], body)
            request = HandleRequest(
                command, document_id=document_id, expected_version=v, actor=clerk, now=MONDAY
            )
            v = (await handle(pool, request, OFFICES)).state.version

    try:
        await run("in-plain", [], incoming_body(office))
        await run("in-urgent", [{"action": "register"}], incoming_body(office, urgency="hoa_toc"))
        sign = {"action": "sign", "signer_name": "Nguyễn Văn A", "signer_position": "Bí thư"}
        steps = [{"action": "submit_review"}, {"action": "review", "approve": True}, sign]
        outgoing = {"kind": "outgoing", "office_id": office, "document_type": "CV", "summary": "Về việc"}
        await run("out-signed", steps, outgoing)
        await _project(db)
        monday = await chase(pool, ws, MONDAY, due_soon_days=2)
        assert (monday.intake, monday.issue) == (1, 0)  # Hỏa tốc: at once, even registered
        await _project(db)
        tuesday = await chase(pool, ws, MONDAY + timedelta(days=1), due_soon_days=2)
        assert (tuesday.intake, tuesday.issue) == (0, 0)  # the next working day is still in time
        wednesday = await chase(pool, ws, MONDAY + timedelta(days=2), due_soon_days=2)
        assert (wednesday.intake, wednesday.issue) == (1, 1)
        await _project(db)
        again = await chase(pool, ws, MONDAY + timedelta(days=3), due_soon_days=2)
        assert (again.intake, again.issue) == (0, 0)
        counts = {
            (r["stream_id"], r["type"]): r["n"]
            for r in await db.fetch(
                "SELECT stream_id, type, count(*) AS n FROM events "
                "WHERE type IN ('IntakeOverdue', 'IssueOverdue') GROUP BY 1, 2"
            )
        }
        assert counts == {
            ("in-plain", "IntakeOverdue"): 1,
            ("in-urgent", "IntakeOverdue"): 1,
            ("out-signed", "IssueOverdue"): 1,
        }
        # and each is a feed entry for the office, like any change
        feed = await db.fetch("SELECT type FROM public.feed WHERE office_id = $1", office)
        assert {"IntakeOverdue", "IssueOverdue"} <= {r["type"] for r in feed}
    finally:
        await pool.close()
