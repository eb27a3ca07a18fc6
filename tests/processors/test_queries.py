"""Read-model queries: accent-free search, office scoping, secrecy, deadlines, registers, statistics."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from processors import cursors
from processors.apply import apply_batch
from processors.cursors import BadCursor
from processors.queries import (
    DeadlineFilter,
    Viewer,
    deadlines,
    get_document,
    list_documents,
    register,
    stats,
)
from schemas.calendar import default_calendar
from tests.processors.helpers import Log
from tests.processors.workload import START, incoming_body, story

O1 = Viewer("o1", "u-1")
TODAY = date(2026, 3, 2)  # START's local day, a Monday


def assign(days: int, unit: str = "unit-1", action: str = "assign") -> dict[str, Any]:
    return {
        "action": action,
        "lead": {"unit": unit},
        "cooperating": [],
        "directive": "Xử lý",
        "deadline": {"working_days": days},
    }


async def _load(db: Any, *stories: list[Any]) -> None:
    await apply_batch(db, Log().append([e for s in stories for e in s]))


async def test_search_ignores_vietnamese_accents(db: Any) -> None:
    await _load(
        db,
        story("d1", incoming_body("o1", "Quyết định về việc thành lập tổ công tác"), []),
        story("d2", incoming_body("o1", "Báo cáo công tác Đảng quý I"), []),
        story("d3", incoming_body("o1", "Kế hoạch kiểm tra", issuing_body="Văn phòng Trung ương Đảng"), []),
    )

    async def ids(q: str) -> list[str]:
        return sorted(d["id"] for d in (await list_documents(db, "o1", O1, q=q)).items)

    assert await ids("quyet dinh") == ["d1"]
    assert await ids("QUYẾT ĐỊNH") == ["d1"]
    assert await ids("dang") == ["d2", "d3"]  # đ is d
    assert await ids("trung uong") == ["d3"]
    assert await ids("125-QĐ/BTCTU") == ["d1", "d2", "d3"]  # số ký hiệu
    assert await ids("125-qd") == ["d1", "d2", "d3"]  # its prefix, accents optional


async def test_offices_see_their_own_and_secret_documents_only_when_granted(db: Any) -> None:
    secret = incoming_body("o1", "Tài liệu mật", secrecy="mat")
    await _load(
        db,
        story("open", incoming_body("o1"), []),
        story("secret", secret, [{"action": "grant_access", "user": "u-granted"}], user="u-clerk"),
        story("other", incoming_body("o2"), []),
    )
    assert await get_document(db, "other", O1) is None
    assert await get_document(db, "secret", O1) is None
    assert (await get_document(db, "secret", Viewer("o1", "u-granted")) or {})["id"] == "secret"
    assert (await get_document(db, "secret", Viewer("o1", "u-clerk")) or {})["id"] == "secret"  # its creator
    listed = [d["id"] for d in (await list_documents(db, "o1", O1)).items]
    assert listed == ["open"]
    assert (await list_documents(db, "o1", Viewer("o2", "u-1"))).items == []


async def test_pages_follow_the_cursor(db: Any) -> None:
    await _load(
        db, *(story(f"d{i:02d}", incoming_body("o1"), [], now=START + timedelta(minutes=i)) for i in range(7))
    )
    seen, cursor = [], None
    while True:
        page = await list_documents(db, "o1", O1, limit=3, cursor=cursor)
        seen += [d["id"] for d in page.items]
        if not (cursor := page.next_cursor):
            break
    assert seen == [f"d{i:02d}" for i in reversed(range(7))]


async def test_deadline_status_is_computed_when_read(db: Any) -> None:
    flow = [{"action": "register"}, {"action": "submit"}]
    await _load(
        db,
        story("soon", incoming_body("o1"), [*flow, assign(1)]),
        story("later", incoming_body("o1"), [*flow, assign(10)]),
        story(
            "done",
            incoming_body("o1"),
            [*flow, assign(1), {"action": "start"}, {"action": "complete", "result": "Xong"}],
        ),
    )
    items = (await deadlines(db, "o1", O1, due_within=3, today=TODAY)).items
    assert [(d["document_id"], d["status"], d["working_days_left"]) for d in items] == [
        ("soon", "due_soon", 1)
    ]
    later = default_calendar().add_working_days(TODAY, 12)
    items = (await deadlines(db, "o1", O1, due_within=0, today=later)).items
    assert [(d["document_id"], d["status"]) for d in items] == [("soon", "overdue"), ("later", "overdue")]
    overdue = await list_documents(db, "o1", O1, overdue=True, today=later)
    assert sorted(d["id"] for d in overdue.items) == ["later", "soon"]
    doc = await get_document(db, "done", O1, today=later)
    assert doc is not None and doc["assignments"][0]["status"] == "completed_on_time"
    numbers = await stats(db, "o1", TODAY, later, today=later)
    assert numbers["total"]["received"] == 3
    assert numbers["total"]["completed_on_time"] == 1 and numbers["total"]["open_past_deadline"] == 2
    assert numbers["units"][0]["unit_id"] == "unit-1"


async def test_registers_list_in_number_order(db: Any) -> None:
    await _load(
        db,
        *(
            story(f"d{n}", incoming_body("o1", f"Văn bản {n}"), [{"action": "register"}], number=n)
            for n in (3, 1, 2)
        ),
    )
    rows = await register(db, "o1", "incoming", 2026, O1)
    assert [(r["number"], r["document_id"], r["summary"]) for r in rows] == [
        (1, "d1", "Văn bản 1"),
        (2, "d2", "Văn bản 2"),
        (3, "d3", "Văn bản 3"),
    ]
    assert rows[0]["received_on"] == TODAY and rows[0]["issuing_body"] == "Ban Tổ chức Thành ủy"


async def _open_assignments(db: Any, office: str) -> set[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT document_id, assignment_id FROM rm.assignments WHERE office_id = $1 AND ended_at IS NULL",
        office,
    )
    return {(r["document_id"], r["assignment_id"]) for r in rows}


async def _all_pages(db: Any, limit: int, **filters: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await deadlines(
            db, "o1", O1, due_within=30, today=TODAY, limit=limit, cursor=cursor, **filters
        )
        assert len(page.items) <= limit
        seen += page.items
        if not (cursor := page.next_cursor):
            return seen


async def test_paging_the_deadlines_sees_every_open_assignment_exactly_once(db: Any) -> None:
    flow = [{"action": "register"}, {"action": "submit"}]
    stories = []
    for i in range(23):  # due dates 1 to 4 working days on, so about six assignments share each one
        actions = [*flow, assign(1 + i % 4, f"unit-{i % 2}")]
        if i % 5 == 0:  # its first assignment ends, the new one is open
            actions.append(assign(1 + (i + 1) % 4, f"unit-{i % 2}", action="reassign"))
        stories.append(story(f"d{i:02d}", incoming_body("o1"), actions))
    stories.append(story("other", incoming_body("o2"), [*flow, assign(1)]))
    await _load(db, *stories)
    expected = await _open_assignments(db, "o1")
    assert len(expected) == 23

    for limit in (1, 4, 7, 500):
        seen = await _all_pages(db, limit)
        keys = [(d["document_id"], d["assignment_id"]) for d in seen]
        assert len(keys) == len(set(keys)) and set(keys) == expected
        dues = [d["due_date"] for d in seen]
        assert dues == sorted(dues)  # most urgent first across pages

    by_status: dict[str, set[tuple[str, str]]] = {}
    statuses: tuple[DeadlineFilter, ...] = ("overdue", "due_soon", "on_time")
    for status in statuses:
        seen = await _all_pages(db, 3, status=status)
        assert {d["status"] for d in seen} <= {status}
        by_status[status] = {(d["document_id"], d["assignment_id"]) for d in seen}
    assert set().union(*by_status.values()) == expected
    assert by_status["due_soon"] and by_status["on_time"]  # the window of 3 working days splits them

    unit0 = await _all_pages(db, 2, unit="unit-0")
    assert {d["lead"]["unit"] for d in unit0} == {"unit-0"}
    assert len(unit0) == 12


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        "",
        cursors.encode("documents", ["2026-03-02T09:00:00+07:00", "d1"]),  # another list's cursor
        cursors.encode("deadlines", ["not a date", "d1", "a1"]),
        cursors.encode("deadlines", ["2026-03-02", 5, "a1"]),
        cursors.encode("deadlines", ["2026-03-02", "d\x00", "a1"]),
        cursors.encode("deadlines", ["2026-03-02", "d1"]),
        "W10",  # []
    ],
)
async def test_a_cursor_not_written_by_the_deadlines_list_is_refused(db: Any, cursor: str) -> None:
    if cursor == "":
        # an empty cursor is no cursor: the first page
        assert (await deadlines(db, "o1", O1, due_within=3, today=TODAY, cursor=cursor)).items == []
        return
    with pytest.raises(BadCursor, match="cursor"):
        await deadlines(db, "o1", O1, due_within=3, today=TODAY, cursor=cursor)


async def test_no_listing_index_holds_a_column_that_changes_with_most_events(db: Any) -> None:
    """The listing row changes with nearly every event (state, version, holder, updated_at); an index on any
    of those would make each of those updates write every index of the row instead of staying HOT."""
    hot = {"state", "version", "holder_unit", "holder_user", "updated_at", "secrecy", "secrecy_rank"}
    rows = await db.fetch(
        """SELECT i.relname AS name, a.attname AS col FROM pg_index x
           JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
           JOIN pg_namespace n ON n.oid = t.relnamespace
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey)
           WHERE n.nspname = 'rm' AND t.relname = 'listing'"""
    )
    indexed = {r["col"] for r in rows}
    assert {"office_id", "created_at", "document_id"} <= indexed
    assert not indexed & hot


async def test_lists_and_search_read_the_listing_rows_as_documents_change(db: Any) -> None:
    log = Log()
    await apply_batch(db, log.append(story("d1", incoming_body("o1", "Quyết định khen thưởng"), [])))
    [row] = (await list_documents(db, "o1", O1, q="khen thuong")).items
    assert (row["id"], row["state"], row["version"]) == ("d1", "received", 1)
    more = story("d1", incoming_body("o1", "Quyết định khen thưởng"), [{"action": "register"}])[1:]
    await apply_batch(db, log.append(more))
    [row] = (await list_documents(db, "o1", O1, kind="incoming")).items
    assert (row["state"], row["version"]) == ("registered", 2)
    assert (await list_documents(db, "o1", O1, q="125-qđ/btc")).items[0]["id"] == "d1"
    assert (await list_documents(db, "o1", O1, q="126")).items == []
