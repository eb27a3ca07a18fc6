"""Deadline status and working days left, as reports and the deadlines endpoint show them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from schemas.deadlines import deadline_status, due_date_in, local_date, working_days_left

D = date


def test_local_date_is_taken_in_vietnam() -> None:
    # 17:30 UTC on 30/4 is already 1/5 in Hà Nội.
    assert local_date(datetime(2024, 4, 30, 17, 30, tzinfo=UTC)) == D(2024, 5, 1)
    with pytest.raises(ValueError, match="timezone"):
        local_date(datetime(2024, 4, 30, 17, 30))


def test_due_date_in_working_days_is_counted_from_the_local_day() -> None:
    # 20:00 UTC Friday 26/4/2024 is Saturday 27/4 in Hà Nội: the break has begun.
    assert due_date_in(1, datetime(2024, 4, 26, 20, 0, tzinfo=UTC)) == D(2024, 5, 2)


@pytest.mark.parametrize(
    ("today", "completed_on", "expected"),
    [
        (D(2024, 5, 2), None, "on_time"),
        (D(2024, 5, 9), None, "due_soon"),  # two working days left
        (D(2024, 5, 13), None, "due_soon"),  # due today
        (D(2024, 5, 14), None, "overdue"),
        (D(2024, 5, 20), D(2024, 5, 13), "completed_on_time"),
        (D(2024, 5, 20), D(2024, 5, 14), "completed_late"),
    ],
)
def test_deadline_status(today: date, completed_on: date | None, expected: str) -> None:
    assert deadline_status(D(2024, 5, 13), today, completed_on, due_soon_days=2) == expected


def test_working_days_left_is_negative_once_overdue() -> None:
    due = D(2024, 5, 3)  # Friday
    assert working_days_left(due, D(2024, 5, 2)) == 1
    assert working_days_left(due, due) == 0
    assert working_days_left(due, D(2024, 5, 4)) == -1  # the make-up Saturday is a working day
    assert working_days_left(D(2024, 5, 10), D(2024, 5, 11)) == -1  # an ordinary Saturday: still late
    assert working_days_left(D(2024, 5, 10), D(2024, 5, 14)) == -2
