"""The office overview's reads (processors/boards.py `overview`, what `GET /ui` asks): each is answered from
index ranges of the office's rows, never a table scan, and the waiting list and the counts read no row
they then throw away; the waiting list is exactly what its rule says (extension requests included)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from processors import boards
from processors.apply import apply_batch
from processors.queries import S, Viewer, _visible
from tests.processors.helpers import Log
from tests.processors.workload import START, Workload

TODAY = (START + timedelta(days=40)).date()
TABLES = {
    "documents",
    "listing",
    "assignments",
    "stat_counts",
    "deliveries",
    "document_access",
    "calendar_days",
}
MIGRATION = Path(__file__).parents[2] / "deploy" / "migrations" / "0079_document_offices_waiting.sql"

# The waiting list's rule as it was first written, over each document's JSON (what the flag replaces; the
# migration fills the rows already there with it).
_WAITING_BY_JSON = """(
    (d.kind = 'incoming' AND d.state IN ('registered', 'submitted'))
    OR (d.kind = 'outgoing' AND d.state = 'review')
    OR (d.kind = 'task' AND d.state = 'open')
    OR (d.state IN ('assigned', 'in_progress') AND EXISTS (
        SELECT 1 FROM jsonb_array_elements(d.data -> 'assignments') a
        WHERE a ->> 'ended_at' IS NULL AND jsonb_array_length(coalesce(a -> 'extensions', '[]')) > 0
          AND (a -> 'extensions' -> -1 ->> 'approved') IS NULL)))"""


@pytest.fixture
async def loaded(db: Any) -> None:
    records = Log().append(Workload(["o1", "o2"], seed=11).events(4000, live=300))
    for i in range(0, len(records), 500):
        await apply_batch(db, records[i : i + 500])
    await db.execute("ANALYZE")


class _Explaining:
    """Runs each query as asked, and keeps its EXPLAIN (ANALYZE, FORMAT JSON) with the same arguments."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.plans: list[tuple[str, Any]] = []

    async def _explain(self, sql: str, args: tuple[Any, ...]) -> None:
        found = await self.conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
        plan = found if isinstance(found, list) else json.loads(found)  # the connection may decode json
        self.plans.append((sql, plan[0]["Plan"]))

    async def fetch(self, sql: str, *args: Any) -> Any:
        await self._explain(sql, args)
        return await self.conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        await self._explain(sql, args)
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        await self._explain(sql, args)
        return await self.conn.fetchval(sql, *args)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    out = [plan]
    for child in plan.get("Plans", []):
        out += _nodes(child)
    return out


async def _overview(db: Any, viewer: Viewer) -> tuple[boards.Overview, list[tuple[str, Any]]]:
    explaining = _Explaining(db)
    board = await boards.overview(
        explaining,
        viewer.office_id,
        viewer,
        start=date(TODAY.year, 1, 1),
        today=TODAY,
        due_soon_days=3,
        horizon=365,
    )
    return board, explaining.plans


VIEWERS = [
    Viewer("o1", "leader@o1"),
    Viewer("o1", "leader@o1", clearance="tuyet_mat"),
    Viewer("o1", "u-o1-1"),
]


async def test_every_read_of_the_overview_is_an_index_range(db: Any, loaded: None) -> None:
    await db.execute("SET enable_seqscan = off")  # a read no index can answer still shows as a Seq Scan
    try:
        for viewer in VIEWERS:
            board, plans = await _overview(db, viewer)
            assert board.urgent and board.waiting and board.stats["units"], viewer
            assert len(plans) >= 4
            for sql, plan in plans:
                scans = [
                    n
                    for n in _nodes(plan)
                    if n["Node Type"] == "Seq Scan" and n.get("Relation Name") in TABLES
                ]
                assert not scans, (viewer, sql, [n["Relation Name"] for n in scans])
    finally:
        await db.execute("RESET enable_seqscan")


async def test_the_waiting_list_and_the_counts_read_no_row_they_throw_away(db: Any, loaded: None) -> None:
    """For a viewer who may see everything (so visibility removes nothing), the waiting list and the
    counters are read exactly: no scan node removes a row by a filter. The first waiting list read every
    document of the office in handling to find the few whose extension request waits."""
    await db.execute("SET enable_seqscan = off")
    try:
        _, plans = await _overview(db, Viewer("o1", "leader@o1", clearance="tuyet_mat"))
    finally:
        await db.execute("RESET enable_seqscan")
    exact = [(sql, plan) for sql, plan in plans if "waiting_total" in sql or "stat_counts" in sql]
    assert len(exact) == 2
    for sql, plan in exact:
        thrown = [
            {
                k: n.get(k)
                for k in ("Node Type", "Relation Name", "Index Name", "Filter", "Recheck Cond", "Index Cond")
            }
            | {"removed": n.get("Rows Removed by Filter", 0) + n.get("Rows Removed by Index Recheck", 0)}
            for n in _nodes(plan)
            if n.get("Rows Removed by Filter", 0) or n.get("Rows Removed by Index Recheck", 0)
        ]
        assert not thrown, (sql, thrown)


async def test_the_waiting_list_is_its_rule_extension_requests_included(db: Any, loaded: None) -> None:
    for viewer in VIEWERS:
        expected = await db.fetch(
            f"""SELECT d.id FROM {S}.documents d WHERE d.office_id = $1
                AND {_visible("d", "$1", "$2", viewer.clearance_rank)} AND {_WAITING_BY_JSON}
                ORDER BY d.updated_at, d.id""",
            viewer.office_id,
            viewer.user_id,
        )
        total, rows = await boards.waiting_for_leader(db, viewer.office_id, viewer, limit=10_000)
        assert [r["id"] for r in rows] == [r["id"] for r in expected]
        assert total == len(expected)
    asked = await db.fetchval(
        f"""SELECT count(*) FROM {S}.documents d WHERE d.state IN ('assigned', 'in_progress')
            AND {_WAITING_BY_JSON}"""
    )
    assert asked, "the workload left no extension request waiting: the test would prove nothing"
    # the migration's fill of the rows already there agrees with the projector's
    waiting = f"SELECT office_id, document_id FROM {S}.document_offices WHERE waits_for_leader"
    flagged = await db.fetch(waiting)
    await db.execute(f"UPDATE {S}.document_offices SET waits_for_leader = false")
    fill = MIGRATION.read_text().split("-- What rm holds already")[1].split("\n", 1)[1]
    await db.execute(fill)
    again = await db.fetch(waiting)
    assert sorted(map(tuple, again)) == sorted(map(tuple, flagged))
