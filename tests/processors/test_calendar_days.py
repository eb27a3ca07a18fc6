"""The working-day calendar as ordinals in SQL: the same answers as the calendar and the deadline view,
and deadlines that move when a year's calendar is published."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from processors.apply import apply_batch
from processors.calendar_days import after_working_days_sql, ordinal_sql
from processors.queries import Viewer, deadlines
from schemas.acts import calendar_stream
from schemas.calendar import default_calendar, with_publications
from schemas.deadlines import deadline_view, open_deadline_sql
from schemas.envelope import Actor, Envelope
from schemas.events import CalendarDay, CalendarPublished
from schemas.recording import record
from schemas.state import DocumentState
from tests.processors.helpers import Log
from tests.processors.workload import START, incoming_body, story

O1 = Viewer("o1", "u-1")
TODAY = date(2026, 3, 2)  # a Monday
FLOW = [{"action": "register"}, {"action": "submit"}]


def assign(days: int) -> dict[str, Any]:
    return {
        "action": "assign",
        "lead": {"unit": "unit-1"},
        "cooperating": [],
        "directive": "Xử lý",
        "deadline": {"working_days": days},
    }


def publication(year: int, version: int, days_off: list[date]) -> Envelope:
    event = CalendarPublished(
        year=year,
        days_off=tuple(CalendarDay(date=d, name="Nghỉ") for d in days_off),
        working_days=(),
        basis="Thông báo 01/TB-VPTU",
    )
    state = DocumentState(id=calendar_stream(year), version=version - 1)
    return record([event], state, now=START, actor=Actor(user="u-admin", office="o1", roles=("admin",)))[0]


async def test_ordinals_in_sql_answer_as_the_calendar_and_the_deadline_view_do(db: Any) -> None:
    await apply_batch(db, Log().append(story("d1", incoming_body("o1"), [])))  # the first batch fills it
    calendar = default_calendar()
    todays = [date(2026, 1, 1), date(2026, 2, 13), date(2026, 2, 14), date(2026, 4, 30), date(2026, 12, 31)]
    for today in todays:
        dues = [today + timedelta(days=k) for k in range(-40, 41)]
        status, left = open_deadline_sql(
            "x.due", "c.ordinal", "$1::date", ordinal_sql("rm", "$1::date"), "$2"
        )
        rows = await db.fetch(
            f"""SELECT x.due, {status} AS status, {left} AS left FROM unnest($3::date[]) AS x(due)
                JOIN rm.calendar_days c ON c.day = x.due ORDER BY x.due""",
            today,
            3,
            dues,
        )
        for r in rows:
            view = deadline_view(r["due"], today, None, 3, calendar)
            assert (r["status"], r["left"]) == (view["status"], view["working_days_left"]), (today, r["due"])
        for n in range(0, 25):
            sql = after_working_days_sql("rm", "$1::date", "$2::int")
            assert await db.fetchval(f"SELECT {sql}", today, n) == calendar.add_working_days(today, n)


async def test_a_published_calendar_moves_open_deadlines(db: Any) -> None:
    log = Log()
    await apply_batch(db, log.append(story("d1", incoming_body("o1"), [*FLOW, assign(5)])))
    [item] = (await deadlines(db, "o1", O1, due_within=10, today=TODAY)).items
    due = item["due_date"]
    assert (item["working_days_left"], item["status"]) == (5, "on_time")

    # Wednesday and Thursday become days off: the same due date is now 3 working days away, due soon.
    off = [TODAY + timedelta(days=2), TODAY + timedelta(days=3)]
    await apply_batch(db, log.append([publication(2026, 1, off)]))
    [item] = (await deadlines(db, "o1", O1, due_within=10, today=TODAY)).items
    assert (item["due_date"], item["working_days_left"], item["status"]) == (due, 3, "due_soon")
    assert [i["document_id"] for i in (await deadlines(db, "o1", O1, due_within=3, today=TODAY)).items] == [
        "d1"
    ]
    published = with_publications([publication(2026, 1, off).data])
    assert not published.is_working_day(off[0])
    # A later publication of the year replaces the earlier one, as the calendar itself does.
    await apply_batch(db, log.append([publication(2026, 2, [])]))
    [item] = (await deadlines(db, "o1", O1, due_within=10, today=TODAY)).items
    assert item["working_days_left"] == 5
    assert await db.fetchval("SELECT version FROM rm.calendar_publications WHERE year = 2026") == 2
