"""The working-day calendar as rows of ordinals, so the deadlines are counted in SQL.

A read model like the others, a pure function of the log: each year's latest CalendarPublished event over
the packaged years and the Labour Code fallback (`schemas.calendar.with_publications`, the one calendar
rule), for every day from FIRST_DAY through LAST_DAY. `ordinal` counts the working days from FIRST_DAY
through the day, so the working days d with a < d <= b are ordinal(b) - ordinal(a), and the n-th working
day after a is the working day whose ordinal is ordinal(a) + n. Rewritten whole when a publication
arrives (a year's change moves the ordinals of every later day) or when the table is still empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from deploy.config.db import Conn
from schemas.calendar import with_publications
from schemas.envelope import Envelope
from schemas.events import CalendarPublished

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
CALENDAR_LOCK = 0x7663616C  # with the schema's name: one writer of a schema's calendar at a time


def is_publication(envelope: Envelope) -> bool:
    return envelope.type == CalendarPublished.type


def calendar_rows(publications: Iterable[Mapping[str, Any]]) -> list[tuple[date, bool, int]]:
    """(day, working, ordinal) for every day of the table, under these publications (oldest first)."""
    calendar = with_publications(publications)
    rows, ordinal, day = [], 0, FIRST_DAY
    while day <= LAST_DAY:
        working = calendar.is_working_day(day)
        ordinal += working
        rows.append((day, working, ordinal))
        day += timedelta(days=1)
    return rows


async def write_calendar(
    conn: Conn, s: str, published: Sequence[Envelope], filled: bool | None = None
) -> None:
    """Record the publications among a batch's events and, when there were any or the table is still
    empty, rewrite the days from every publication recorded. Runs in the batch's transaction. `filled`:
    whether the table had days earlier in that transaction (the caller asked along with a query of its
    own; only this function empties it, and refills it in the same transaction), else asked
    here."""
    if filled is None:
        filled = await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {s}.calendar_days)")
    if not published and filled:
        return
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", CALENDAR_LOCK, s)
    if published:
        await conn.executemany(
            f"""INSERT INTO {s}.calendar_publications AS p (year, version, body) VALUES ($1, $2, $3)
                ON CONFLICT (year) DO UPDATE SET version = EXCLUDED.version, body = EXCLUDED.body
                WHERE EXCLUDED.version > p.version""",
            [(int(e.data["year"]), e.version, dict(e.data)) for e in published],
        )
    elif await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {s}.calendar_days)"):
        return  # another worker wrote it meanwhile
    bodies = [
        r["body"] for r in await conn.fetch(f"SELECT body FROM {s}.calendar_publications ORDER BY year")
    ]
    await conn.execute(f"DELETE FROM {s}.calendar_days")
    await conn.copy_records_to_table(
        "calendar_days", records=calendar_rows(bodies), columns=["day", "working", "ordinal"], schema_name=s
    )


def ordinal_sql(s: str, day: str) -> str:
    """The working-day ordinal of `day` (an SQL date), as a scalar subquery the planner runs once."""
    return f"(SELECT c.ordinal FROM {s}.calendar_days c WHERE c.day = {day})"


def after_working_days_sql(s: str, day: str, n: str) -> str:
    """`Calendar.add_working_days(day, n)` as a scalar subquery: `day` itself for n = 0, else the working
    day whose ordinal is n past `day`'s; null outside the table."""
    return (
        f"(SELECT CASE WHEN {n} = 0 THEN c.day ELSE (SELECT h.day FROM {s}.calendar_days h "
        f"WHERE h.working AND h.ordinal = c.ordinal + {n}) END FROM {s}.calendar_days c WHERE c.day = {day})"
    )
