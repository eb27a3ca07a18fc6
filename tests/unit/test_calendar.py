"""The working-day calendar: published days, the Labour Code fallback, and the counting convention."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.calendar import (
    Calendar,
    YearCalendar,
    add_working_days,
    default_calendar,
    is_working_day,
    labour_code_year,
    working_days_between,
)

D = date


@pytest.mark.parametrize(
    "day",
    [
        # Tết 2026: Saturday 14/2 to Sunday 22/2/2026, nine days in a row.
        *(D(2026, 2, 14) + timedelta(days=k) for k in range(9)),
        # 30/4–1/5/2024: Saturday 27/4 to Wednesday 1/5/2024.
        *(D(2024, 4, 27) + timedelta(days=k) for k in range(5)),
        # 2/9/2024: Saturday 31/8 to Tuesday 3/9/2024.
        *(D(2024, 8, 31) + timedelta(days=k) for k in range(4)),
        D(2024, 1, 1),
        D(2024, 4, 18),  # Giỗ Tổ Hùng Vương 2024
        D(2026, 1, 1),
        D(2026, 4, 27),  # Giỗ Tổ falls on Sunday 26/4/2026: taken on Monday
        D(2026, 8, 31),  # swapped for Saturday 22/8/2026
    ],
)
def test_published_days_off(day: date) -> None:
    assert not is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [
        D(2024, 5, 4),  # make-up Saturday for Monday 29/4/2024
        D(2026, 8, 22),  # make-up Saturday for Monday 31/8/2026
        D(2026, 2, 13),  # Friday before Tết 2026
        D(2026, 2, 23),  # Monday after Tết 2026
        D(2024, 4, 26),
        D(2024, 5, 2),
        D(2024, 9, 4),
    ],
)
def test_published_working_days(day: date) -> None:
    assert is_working_day(day)


def test_ordinary_weekends_are_off() -> None:
    assert not is_working_day(D(2024, 5, 11)) and not is_working_day(D(2024, 5, 12))


def test_counting_across_the_april_2024_break_and_its_make_up_saturday() -> None:
    # From Friday 26/4/2024: Thu 2/5 is the 1st working day, Fri 3/5 the 2nd, Sat 4/5 (made up) the 3rd.
    assert add_working_days(D(2024, 4, 26), 1) == D(2024, 5, 2)
    assert add_working_days(D(2024, 4, 26), 3) == D(2024, 5, 4)
    assert add_working_days(D(2024, 4, 26), 4) == D(2024, 5, 6)
    assert working_days_between(D(2024, 4, 26), D(2024, 5, 6)) == 4


def test_counting_across_tet_2026() -> None:
    assert add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 23)


def test_zero_working_days_is_the_start_itself() -> None:
    assert add_working_days(D(2026, 2, 14), 0) == D(2026, 2, 14)
    with pytest.raises(ValueError, match="n"):
        add_working_days(D(2026, 2, 14), -1)


def test_packaged_years_cover_2024_to_2027_and_2027_says_it_is_unpublished() -> None:
    calendar = default_calendar()
    for year in (2024, 2025, 2026):
        assert calendar.year(year).published
    assert not calendar.year(2027).published
    assert "Labour Code" in calendar.year(2027).source


def test_labour_code_fallback_moves_weekend_holidays_to_the_next_working_day() -> None:
    off = labour_code_year(2028).days_off
    assert D(2028, 1, 3) in off  # 1/1/2028 is a Saturday
    assert D(2028, 5, 2) in off  # 30/4/2028 is a Sunday, 1/5 Monday is itself a holiday
    assert D(2028, 4, 4) in off  # Giỗ Tổ, 10/3 lunar, from the holidays package
    # Tết 2027: eve Friday 5/2, then Sat, Sun, Mon, Tue; the weekend days move to Wed and Thu.
    assert {D(2027, 2, 5), D(2027, 2, 8), D(2027, 2, 9), D(2027, 2, 10), D(2027, 2, 11)} <= labour_code_year(
        2027
    ).days_off


def test_a_calendar_can_be_injected() -> None:
    year = YearCalendar(2030, frozenset({D(2030, 3, 4)}), frozenset({D(2030, 3, 9)}), "test", True)
    calendar = Calendar([year])
    assert not is_working_day(D(2030, 3, 4), calendar)
    assert is_working_day(D(2030, 3, 9), calendar)
    assert add_working_days(D(2030, 3, 1), 1, calendar) == D(2030, 3, 5)


def test_year_data_is_validated() -> None:
    with pytest.raises(ValueError, match="weekday"):
        YearCalendar.from_dict({"year": 2030, "working_days": [{"date": "2030-03-04"}]})
    with pytest.raises(ValueError, match="not in 2030"):
        YearCalendar.from_dict({"year": 2030, "days_off": [{"date": "2031-01-01"}]})


DAYS = st.dates(min_value=D(2023, 12, 1), max_value=D(2029, 6, 30))


@settings(max_examples=150, deadline=None)
@given(start=DAYS, n=st.integers(min_value=0, max_value=60))
def test_add_and_between_agree(start: date, n: int) -> None:
    end = add_working_days(start, n)
    assert working_days_between(start, end) == n
    if n > 0:
        assert is_working_day(end)
        # The first such day: one day earlier, one working day fewer.
        assert working_days_between(start, end - timedelta(days=1)) == n - 1


@settings(max_examples=150, deadline=None)
@given(a=DAYS, b=DAYS, c=DAYS)
def test_between_is_antisymmetric_and_additive(a: date, b: date, c: date) -> None:
    assert working_days_between(a, b) == -working_days_between(b, a)
    assert working_days_between(a, b) + working_days_between(b, c) == working_days_between(a, c)


@given(st.dates(D(2023, 1, 1), D(2028, 12, 31)), st.dates(D(2023, 1, 1), D(2028, 12, 31)))
def test_between_counts_what_a_day_by_day_walk_counts(a: date, b: date) -> None:
    cal = default_calendar()
    lo, hi = min(a, b), max(a, b)
    walked = sum(cal.is_working_day(lo + timedelta(days=k)) for k in range(1, (hi - lo).days + 1))
    assert cal.working_days_between(a, b) == (walked if a <= b else -walked)


def test_new_year_2026_swap_friday_off_saturday_worked() -> None:
    # Công văn 12729/VPCP-KGVX: off Thu 1/1–Sun 4/1/2026, Fri 2/1 made up on Sat 10/1/2026.
    assert not is_working_day(D(2026, 1, 2)) and is_working_day(D(2026, 1, 10))
    # Working days after 31/12/2025 through Mon 12/1/2026: 5–9/1, Sat 10/1, 12/1.
    assert working_days_between(D(2025, 12, 31), D(2026, 1, 12)) == 7


def test_24_november_is_no_built_in_day_off() -> None:
    assert is_working_day(D(2026, 11, 24))  # a Tuesday
    fallback = labour_code_year(2030)
    assert D(2030, 11, 25) not in fallback.days_off  # Sunday 24/11/2030 moves nothing
    assert all((d.month, d.day) != (11, 24) for d in fallback.days_off)


def test_a_publication_replaces_its_year_and_names_its_basis() -> None:
    from schemas.calendar import with_publications

    published = with_publications(
        [
            {
                "year": 2026,
                "days_off": [{"date": "2026-11-24", "name": "Ngày Văn hóa Việt Nam"}],
                "working_days": [],
                "basis": "Thông báo số 1/TB-VPCP ngày 1/11/2026",
            }
        ]
    )
    assert not published.is_working_day(D(2026, 11, 24))
    assert published.is_working_day(D(2026, 1, 2))  # the publication replaces the whole year
    shown = published.year(2026).to_dict()
    assert shown["published"] and shown["basis"].startswith("Thông báo số 1")
    assert shown["days_off"] == [
        {
            "date": "2026-11-24",
            "name": "Ngày Văn hóa Việt Nam",
            "basis": "Thông báo số 1/TB-VPCP ngày 1/11/2026",
        }
    ]
    with pytest.raises(ValueError, match="weekday"):
        with_publications([{"year": 2026, "working_days": [{"date": "2026-01-05"}], "basis": "x"}])
