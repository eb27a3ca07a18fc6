"""The working-day calendar (ngày làm việc) of Vietnamese state and Party bodies.

Weekends are off. Holidays and the government's swaps (including make-up working Saturdays) are data per
year, because the Prime Minister fixes them each year: the files in `schemas/calendar_data/` are the
initial publication, and a year published through `PUT /v1/calendar/{year}` (a CalendarPublished event)
replaces its file (`with_publications`). A year without published data falls back to the Labour Code
rule (Điều 111–112), using lunar dates from the `holidays` package. No day off is built in beyond that
rule (24/11 included: it enters only through a year's published data with its basis).

Counting convention, shared by `add_working_days` and `working_days_between`:
`working_days_between(a, b)` counts the working days d with a < d <= b (negated when b < a), so
`add_working_days(a, n)` is the first day b with `working_days_between(a, b) == n`. For n = 0 that is
`a` itself, even when `a` is a day off: "0 working days from today" is today.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from holidays.calendars.chinese import VIETNAMESE_CALENDAR, _ChineseLunisolar

ONE_DAY = timedelta(days=1)
SATURDAY = 5


@dataclass(frozen=True, slots=True)
class YearCalendar:
    """One year's days off and make-up working days, and where they come from."""

    year: int
    days_off: frozenset[date]
    working_days: frozenset[date]  # make-up days: weekend days that are worked
    source: str  # the basis: the announcement(s) the year's days come from
    published: bool
    names: Mapping[date, str] = field(default_factory=dict)  # what each listed day is
    bases: Mapping[date, str] = field(default_factory=dict)  # a day's own basis, where it has one

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> YearCalendar:
        """From a year file or a publication: `year`, `days_off` and `working_days` ([{date, name, basis?}]),
        and `source` or `basis` (the year's; a day without its own basis shows the year's)."""
        year = int(raw["year"])
        entries = [*raw.get("days_off", []), *raw.get("working_days", [])]
        bases = {d: b for d, _, b in _dates(entries, year, "days") if b}
        off = {d: n for d, n, _ in _dates(raw.get("days_off", []), year, "days_off")}
        worked = {d: n for d, n, _ in _dates(raw.get("working_days", []), year, "working_days")}
        for d in worked:
            if d.weekday() < SATURDAY:
                raise ValueError(f"working_days: {d} is a weekday, only weekend days can be made up")
        if off.keys() & worked.keys():
            raise ValueError(f"{year}: a day cannot be both off and worked")
        source = str(raw.get("basis", raw.get("source", "")))
        published = bool(raw.get("published", True))
        return cls(year, frozenset(off), frozenset(worked), source, published, {**off, **worked}, bases)

    def to_dict(self) -> dict[str, Any]:
        """What `GET /v1/calendar/{year}` shows of it."""

        def days(ds: frozenset[date]) -> list[dict[str, str]]:
            return [
                {
                    "date": d.isoformat(),
                    "name": self.names.get(d, ""),
                    "basis": self.bases.get(d, self.source),
                }
                for d in sorted(ds)
            ]

        return {
            "year": self.year,
            "published": self.published,
            "basis": self.source,
            "days_off": days(self.days_off),
            "working_days": days(self.working_days),
        }


def _dates(entries: Iterable[Mapping[str, Any]], year: int, what: str) -> Iterable[tuple[date, str, str]]:
    for entry in entries:
        raw = entry["date"]
        d = raw if isinstance(raw, date) else date.fromisoformat(raw)
        if d.year != year:
            raise ValueError(f"{what}: {d} is not in {year}")
        yield d, str(entry.get("name", "")), str(entry.get("basis") or "")


def _lunar() -> _ChineseLunisolar:
    # The holidays package's lunisolar tables are the one lunar calendar we trust; it keeps them private.
    return _ChineseLunisolar(VIETNAMESE_CALENDAR)


def _next_weekday_not_in(d: date, taken: set[date]) -> date:
    while d.weekday() >= SATURDAY or d in taken:
        d += ONE_DAY
    return d


def labour_code_year(year: int) -> YearCalendar:
    """Days off under the Labour Code rule, for a year the government has not (yet) published."""
    lunar_new_year, _ = _lunar().lunar_new_year_date(year)
    hung_kings, _ = _lunar().hung_kings_date(year)
    if lunar_new_year is None or hung_kings is None:
        raise ValueError(f"{year}: outside the lunar calendar the holidays package knows")
    national_day = date(year, 9, 2)
    # The adjacent day to 2/9 is chosen, as the government usually does, to join a weekend.
    adjacent = national_day + timedelta(days=(+1, -1, -1, +1, -1, -1, +1)[national_day.weekday()])
    holidays = [date(year, 1, 1), hung_kings, date(year, 4, 30), date(year, 5, 1), national_day, adjacent]
    # Tết: the last day of the old lunar year and the first four of the new one.
    holidays += [lunar_new_year + timedelta(days=k) for k in range(-1, 4)]
    days_off = {d for d in holidays if d.weekday() < SATURDAY}
    for d in sorted(d for d in holidays if d.weekday() >= SATURDAY):
        # Điều 111.3: a holiday on a weekly rest day is taken on the next working day.
        days_off.add(_next_weekday_not_in(d, days_off))
    return YearCalendar(year, frozenset(days_off), frozenset(), "Labour Code 2019 Điều 111–112", False)


class Calendar:
    """Working days, given per-year data; years without published data follow the Labour Code."""

    def __init__(self, years: Iterable[YearCalendar] = ()) -> None:
        self._published = {y.year: y for y in years if y.published}
        self._fallback: dict[int, YearCalendar] = {}
        self._through: dict[int, list[int]] = {}  # year -> working days from 1/1 through each day

    def year(self, year: int) -> YearCalendar:
        if year in self._published:
            return self._published[year]
        if year not in self._fallback:
            self._fallback[year] = labour_code_year(year)
        return self._fallback[year]

    def is_working_day(self, d: date) -> bool:
        data = self.year(d.year)
        if d in data.working_days:
            return True
        return d.weekday() < SATURDAY and d not in data.days_off

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (`start` not counted); n = 0 gives `start`."""
        if n < 0:
            raise ValueError("n: must be >= 0")
        d = start
        while n > 0:
            d += ONE_DAY
            if self.is_working_day(d):
                n -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days d with a < d <= b; negative (the count in b < d <= a) when b is before a."""
        if b < a:
            return -self.working_days_between(b, a)
        # From per-year running counts rather than day by day: the deadlines list computes this for
        # every open assignment, and months-old overdue ones made it most of that query's cost.
        count = self._count_through(b) - self._count_through(a)
        for year in range(a.year, b.year):
            count += self._days_through(year)[-1]
        return count

    def _count_through(self, d: date) -> int:
        return self._days_through(d.year)[d.timetuple().tm_yday - 1]

    def _days_through(self, year: int) -> list[int]:
        counts = self._through.get(year)
        if counts is None:
            counts, n, d = [], 0, date(year, 1, 1)
            while d.year == year:
                n += self.is_working_day(d)
                counts.append(n)
                d += ONE_DAY
            self._through[year] = counts
        return counts

    def next_working_day(self, d: date) -> date:
        """`d` itself if it is a working day, else the first working day after it."""
        while not self.is_working_day(d):
            d += ONE_DAY
        return d


def with_publications(publications: Iterable[Mapping[str, Any]]) -> Calendar:
    """The packaged years, each replaced by its latest publication (CalendarPublished data, in order)."""
    years = {y.year: y for y in packaged_years()}
    for raw in publications:
        published = YearCalendar.from_dict({**raw, "published": True})
        years[published.year] = published
    return Calendar(years.values())


def packaged_years() -> list[YearCalendar]:
    """The year files shipped in `schemas/calendar_data/`."""
    folder = resources.files("schemas") / "calendar_data"
    return [
        YearCalendar.from_dict(json.loads(entry.read_text(encoding="utf-8")))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    ]


@lru_cache(maxsize=1)
def default_calendar() -> Calendar:
    """The calendar built from the packaged year files (read once)."""
    return Calendar(packaged_years())


def is_working_day(d: date, calendar: Calendar | None = None) -> bool:
    return (calendar or default_calendar()).is_working_day(d)


def add_working_days(start: date, n: int, calendar: Calendar | None = None) -> date:
    """The n-th working day after `start`, `start` not counted; n = 0 gives `start`."""
    return (calendar or default_calendar()).add_working_days(start, n)


def working_days_between(a: date, b: date, calendar: Calendar | None = None) -> int:
    """Working days d with a < d <= b, negated when b < a."""
    return (calendar or default_calendar()).working_days_between(a, b)
