"""Statistics from the projector's counters: the same numbers as recounting the rows, for every viewer
(secret documents exactly as the visibility rule shows them), however the events were batched."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from processors.apply import apply_batch
from processors.queries import S, Viewer, _visible, counted_secret, office_totals, stats, stats_in_one_read
from processors.rebuild import differences
from tests.processors.helpers import Log
from tests.processors.workload import Workload

DAY = date(2026, 3, 2)  # START's local day
COUNTS = (
    "received",
    "issued",
    "completed_on_time",
    "completed_late",
    "open_within_deadline",
    "open_past_deadline",
)


async def _recount(
    db: Any, office: str, start: date, end: date, viewer: Viewer | None, today: date
) -> dict[str, Any]:
    """The statistics counted from the rows, as `stats` counted them before it had counters."""
    as_of = min(end, today)
    seen = _visible("d", "$1", "$4", viewer.clearance_rank) if viewer else "($4::text IS NULL OR true)"
    user = viewer.user_id if viewer else None
    total = dict.fromkeys(COUNTS, 0)
    total["received"] = await db.fetchval(
        f"""SELECT count(*) FROM {S}.documents d WHERE d.office_id = $1 AND d.kind = 'incoming'
            AND (d.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date BETWEEN $2 AND $3 AND {seen}""",
        office,
        start,
        end,
        user,
    )
    total["issued"] = await db.fetchval(
        f"""SELECT count(*) FROM {S}.documents d WHERE d.office_id = $1 AND d.issued_on BETWEEN $2 AND $3
            AND {seen}""",
        office,
        start,
        end,
        user,
    )
    rows = await db.fetch(
        f"""SELECT a.lead_unit AS unit_id,
              count(*) FILTER (WHERE (a.assigned_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date BETWEEN $2 AND $3)
                  AS received,
              count(*) FILTER (WHERE a.completed_on BETWEEN $2 AND $3 AND a.completed_on <= a.due_date)
                  AS completed_on_time,
              count(*) FILTER (WHERE a.completed_on BETWEEN $2 AND $3 AND a.completed_on > a.due_date)
                  AS completed_late,
              count(*) FILTER (WHERE a.ended_at IS NULL AND a.due_date >= $5) AS open_within_deadline,
              count(*) FILTER (WHERE a.ended_at IS NULL AND a.due_date < $5) AS open_past_deadline
            FROM {S}.assignments a JOIN {S}.documents d ON d.id = a.document_id
            WHERE a.office_id = $1 AND {seen}
            GROUP BY a.lead_unit ORDER BY a.lead_unit NULLS LAST""",
        office,
        start,
        end,
        user,
        as_of,
    )
    units = [
        {"unit_id": r["unit_id"], "issued": 0, **{k: r[k] for k in COUNTS if k != "issued"}} for r in rows
    ]
    for u in units:
        for k in COUNTS[2:]:
            total[k] += u[k]
    return {"total": total, "units": units}


VIEWERS = [
    None,
    Viewer("o1", "u-o1-1"),  # creator of some secret documents
    Viewer("o1", "u-reader-1"),  # granted some
    Viewer("o1", "u-nobody"),
    Viewer("o1", "u-nobody", clearance="mat"),
    Viewer("o1", "u-reader-2", clearance="toi_mat"),
]


@pytest.fixture
async def loaded(db: Any) -> Any:
    log = Log()
    records = log.append(Workload(["o1", "o2"], seed=5).events(2500))
    for i in range(0, len(records), 97):  # small batches: counters moved many times over
        await apply_batch(db, records[i : i + 97])
    return records


async def test_stats_from_counters_equal_a_recount_for_every_viewer(db: Any, loaded: Any) -> None:
    assert await db.fetchval(f"SELECT count(*) FROM {S}.documents WHERE secrecy = 'mat'") > 5
    assert await db.fetchval(f"SELECT count(*) FROM {S}.assignments WHERE completed_on IS NOT NULL") > 5
    periods = [
        (DAY, DAY),
        (DAY, DAY + timedelta(days=60)),
        (DAY + timedelta(days=1), DAY + timedelta(days=20)),
    ]
    for viewer in VIEWERS:
        for start, end in periods:
            for today in (DAY, DAY + timedelta(days=9), DAY + timedelta(days=40)):
                expected = await _recount(db, "o1", start, end, viewer, today)
                got = await stats(db, "o1", start, end, viewer=viewer, today=today)
                assert got == expected, (viewer, start, end, today)


async def test_every_offices_counts_in_one_read_are_each_offices_own_without_secrets(
    db: Any, loaded: Any
) -> None:
    """The city view's counts: one read of the counters for all offices gives each office what `stats`
    and a recount of its rows give an uncleared viewer of that office (never a secret document, though
    both offices hold some), and zeros for an office with nothing."""
    for office in ("o1", "o2"):
        assert await db.fetchval(
            f"SELECT count(*) FROM {S}.documents WHERE office_id = $1 AND secrecy = 'mat'", office
        )
    periods = [(DAY, DAY + timedelta(days=60)), (DAY + timedelta(days=1), DAY + timedelta(days=20))]
    counted: set[str] = set()
    for start, end in periods:
        for today in (DAY + timedelta(days=9), DAY + timedelta(days=40)):
            got = await office_totals(db, ["o2", "o1", "o9"], start, end, today=today)
            assert set(got) == {"o1", "o2", "o9"}
            assert got["o9"] == dict.fromkeys(COUNTS, 0)
            for office in ("o1", "o2"):
                uncleared = Viewer(office)
                expected = await _recount(db, office, start, end, uncleared, today)
                assert got[office] == expected["total"], (office, start, end, today)
                alone = await stats(db, office, start, end, viewer=uncleared, today=today)
                assert got[office] == alone["total"]
            counted.update(k for o in ("o1", "o2") for k, n in got[o].items() if n)
    assert {"received", "completed_on_time", "open_within_deadline"} <= counted


async def test_the_secret_documents_counted_are_those_the_viewer_sees(db: Any, loaded: Any) -> None:
    end = DAY + timedelta(days=60)
    for viewer in VIEWERS[1:]:
        assert viewer is not None
        seen = await db.fetch(
            f"""SELECT d.id, d.secrecy FROM {S}.documents d WHERE d.office_id = 'o1'
                AND coalesce(d.secrecy, 'thuong') <> 'thuong'
                AND {_visible("d", "$1", "$2", viewer.clearance_rank)}
                ORDER BY d.id""",
            "o1",
            viewer.user_id,
        )
        counted = await counted_secret(db, "o1", DAY, end, viewer)
        assert set(counted) <= {(r["id"], r["secrecy"]) for r in seen}
        assert bool(counted) == bool(seen)


class _Counting:
    """A connection that counts the statements sent through it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.statements = 0

    async def fetch(self, sql: str, *args: Any) -> Any:
        self.statements += 1
        return await self.conn.fetch(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


async def test_a_report_reads_counters_and_secret_documents_in_one_statement(db: Any, loaded: Any) -> None:
    """`stats_in_one_read` (what GET …/stats runs) gives what `stats` and `counted_secret` give, for every
    viewer, and reads it in one statement when the viewer sees no secret document: a round trip of every
    statistics call saved (tests/bench queries); more only for the secret documents a viewer sees."""
    end = DAY + timedelta(days=60)
    for viewer in VIEWERS[1:]:
        assert viewer is not None
        for today in (DAY + timedelta(days=9), DAY + timedelta(days=40)):
            counting = _Counting(db)
            got = await stats_in_one_read(counting, "o1", DAY, end, viewer, today=today)
            expected = await stats(db, "o1", DAY, end, viewer=viewer, today=today)
            assert got == (expected, await counted_secret(db, "o1", DAY, end, viewer)), (viewer, today)
            if viewer.user_id == "u-nobody" and viewer.clearance is None:
                assert not got[1]
                assert counting.statements == 1
            else:
                assert got[1]
                assert counting.statements <= 4


async def test_counters_and_listing_are_the_same_however_the_events_are_batched(db: Any, loaded: Any) -> None:
    await db.execute("SELECT public.vanthu_rm_create('rm_whole')")
    await apply_batch(db, loaded, schema="rm_whole")  # every event in one transaction
    assert await differences(db, "rm", "rm_whole") == {}
    zero = await db.fetchval("SELECT count(*) FROM rm.stat_counts WHERE n = 0")
    assert zero == 0
    assert await db.fetchval("SELECT count(*) FROM rm.stat_counts") > 0
