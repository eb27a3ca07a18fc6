"""Deadline chasing through the write side: one DeadlineApproaching and one DeadlineMissed per
assignment, however often the chaser runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deploy.db import create_pool
from processors.apply import apply_batch
from processors.chaser import chase
from processors.records import Record
from processors.writeside import write_side
from schemas.envelope import Actor
from schemas.parsing import parse_action, parse_create
from tests.processors.workload import incoming_body

pytestmark = pytest.mark.skipif(write_side() is None, reason="the write side (producers.handler) is missing")
MONDAY = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


async def _project(db: Any) -> None:
    """Apply every stored event to the read models (what relay + worker do), offsets by position."""
    rows = await db.fetch("SELECT position, stream_id, body FROM events ORDER BY position")
    records = [Record("events", 0, i, r["stream_id"].encode(), bytes(r["body"])) for i, r in enumerate(rows)]
    await apply_batch(db, records, strict_offsets=False)


async def test_chasing_appends_one_event_per_threshold(database: str, db: Any) -> None:
    from producers.handler import handle
    from producers.offices import configured_offices

    ws = write_side()
    assert ws is not None
    office = next(iter(configured_offices())).id
    clerk = Actor(user="u-clerk", office=office, roles=("clerk", "leader"))
    pool = await create_pool(database)
    try:
        create = parse_create(incoming_body(office))
        v = (
            await handle(pool, create, document_id="d1", expected_version=0, actor=clerk, now=MONDAY)
        ).state.version
        assign = {"action": "assign", "lead": {"unit": "u1"}, "cooperating": [], "directive": "",
                  "deadline": {"working_days": 3}}  # fmt: skip
        for body in ({"action": "register"}, {"action": "submit"}, assign):
            command = parse_action("incoming", body)
            result = await handle(
                pool, command, document_id="d1", expected_version=v, actor=clerk, now=MONDAY
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
        assert types.count("DeadlineApproaching") == 1 and types.count("DeadlineMissed") == 1
        marked = await db.fetchrow("SELECT approaching_marked, missed_marked FROM rm.assignments")
        assert tuple(marked) == (True, True)
    finally:
        await pool.close()
