"""Deadlines: turning a requested deadline into a date once, and judging a due date against a day."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Literal
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
