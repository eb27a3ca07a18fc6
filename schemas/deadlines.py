"""Deadlines: turning a requested deadline into a date once, and judging a due date against a day."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas.calendar import Calendar, default_calendar

DeadlineStatus = Literal["on_time", "due_soon", "overdue", "completed_on_time", "completed_late"]


def _office_zone() -> timezone | ZoneInfo:
    try:
        return ZoneInfo("Asia/Ho_Chi_Minh")
    except ZoneInfoNotFoundError:
        # Vietnam has kept UTC+7 without daylight saving since 1975; used only if tzdata is absent.
        return timezone(timedelta(hours=7))


OFFICE_ZONE = _office_zone()


def local_date(now: datetime) -> date:
    """The calendar day in Vietnam at instant `now` (which must be timezone-aware)."""
    if now.tzinfo is None:
        raise ValueError("now: must be timezone-aware")
    return now.astimezone(OFFICE_ZONE).date()


def due_date_in(working_days: int, now: datetime, calendar: Calendar | None = None) -> date:
    """The date `working_days` working days after the local day of `now`."""
    return (calendar or default_calendar()).add_working_days(local_date(now), working_days)


def working_days_left(due_date: date, today: date, calendar: Calendar | None = None) -> int:
    """Working days from `today` up to `due_date`; negative when overdue.

    Due today gives 0. Once past due it is minus the working days elapsed since the due date, and at least
    -1, so a deadline missed on Friday still reads -1 over the weekend.
    """
    cal = calendar or default_calendar()
    if today <= due_date:
        return cal.working_days_between(today, due_date)
    return min(-1, -cal.working_days_between(due_date, today))


def deadline_status(
    due_date: date,
    today: date,
    completed_on: date | None,
    due_soon_days: int,
    calendar: Calendar | None = None,
) -> DeadlineStatus:
    """Classify an assignment the way official reports do; "due soon" is a per-office setting."""
    if completed_on is not None:
        return "completed_on_time" if completed_on <= due_date else "completed_late"
    if today > due_date:
        return "overdue"
    if working_days_left(due_date, today, calendar) <= due_soon_days:
        return "due_soon"
    return "on_time"


class DeadlineView(TypedDict):
    """What an assignment's deadline looks like on a day, as every answer shows it."""

    status: DeadlineStatus
    working_days_left: int | None  # None once the assignment is completed or ended


def deadline_view(
    due_date: date,
    today: date,
    completed_on: date | None,
    due_soon_days: int,
    calendar: Calendar | None = None,
    *,
    ended: bool = False,
) -> DeadlineView:
    """The status of a due date on `today`, and the working days left while the assignment is open."""
    status = deadline_status(due_date, today, completed_on, due_soon_days, calendar)
    left = None if completed_on is not None or ended else working_days_left(due_date, today, calendar)
    return {"status": status, "working_days_left": left}


def open_deadline_sql(
    due: str, due_ordinal: str, today: str, today_ordinal: str, soon: str
) -> tuple[str, str]:
    """`deadline_view` of an open assignment as SQL expressions (status, working_days_left), for queries
    that filter and page by it: the same rule, given the working-day ordinals of the due date and of
    today (working days d with a < d <= b are ordinal(b) - ordinal(a)) and the due-soon window `soon`.
    tests/processors/test_calendar_days.py holds it to `deadline_view`."""
    between = f"({due_ordinal} - {today_ordinal})"
    left = f"(CASE WHEN {today} <= {due} THEN {between} ELSE least(-1, {between}) END)"
    status = (
        f"(CASE WHEN {today} > {due} THEN 'overdue' WHEN {between} <= {soon} THEN 'due_soon' "
        "ELSE 'on_time' END)"
    )
    return status, left


def _day(value: Any) -> Any:
    return date.fromisoformat(value) if isinstance(value, str) else value


def assignment_view(
    assignment: Mapping[str, Any], today: date, due_soon_days: int, calendar: Calendar | None = None
) -> dict[str, Any]:
    """An assignment in its dict form (dates as dates or ISO text) with its deadline view as of `today`."""
    view = deadline_view(
        _day(assignment["due_date"]),
        today,
        _day(assignment.get("completed_on")),
        due_soon_days,
        calendar,
        ended=bool(assignment.get("ended_at")),
    )
    return {**assignment, **view}


def intake_due(received_on: date, urgent: bool, calendar: Calendar | None = None) -> date:
    """NĐ 30 Điều 20–22: a document is registered and handed over the day it is received, at the latest
    the next working day; an urgent one (Khẩn, Thượng khẩn, Hỏa tốc) at once, the day it is received."""
    return received_on if urgent else (calendar or default_calendar()).add_working_days(received_on, 1)


def issue_due(signed_on: date, calendar: Calendar | None = None) -> date:
    """NĐ 30 Điều 18.1: issued the day it is signed, at the latest the next working day."""
    return (calendar or default_calendar()).add_working_days(signed_on, 1)


def intake_late(received_on: date, urgent: bool, today: date, calendar: Calendar | None = None) -> bool:
    """Whether a document not yet handed over is to be chased today (urgent ones: at once)."""
    due = intake_due(received_on, urgent, calendar)
    return today >= due if urgent else today > due
