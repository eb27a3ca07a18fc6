"""Statistics counters: per (office, unit, day, measure, secrecy rank) how many documents or assignments
count there, moved by the projector in the same transaction as the rows (by the difference between a
document's old and new contributions), so a stats call sums an index range instead of recounting an
office's history. A pure function of the log like every read model: a row whose count falls to zero is
deleted, so live and rebuilt counters hold the same rows however the events were batched.

Measures (unit '' where the count is the office's, or the lead is a person rather than a unit):
- `received`: incoming documents, on the local day they were created (tiếp nhận);
- `issued`: documents issued, on their issue date;
- `assigned`: assignments, on the local day they were made;
- `completed_on_time`, `completed_late`: assignments completed, on their completion day;
- `open`: open assignments, on their due date (past deadline or not is judged when read);
- `assignments`: every assignment a unit has led, on day 1 (which units a report lists).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date

from deploy.config.db import Conn
from schemas.deadlines import local_date
from schemas.enums import DocumentKind, Secrecy
from schemas.state import DocumentState

Key = tuple[str, str, date, str, int]  # office, unit, day, measure, secrecy rank
EVER = date.min  # the day of the `assignments` measure (asyncpg stores date.min as -infinity)


def contributions(state: DocumentState | None) -> Counter[Key]:
    """What one document counts for, as it is now."""
    out: Counter[Key] = Counter()
    if state is None or not state.office_id:
        return out
    office, rank = state.office_id, Secrecy.rank_of(state.secrecy)
    if state.kind == DocumentKind.INCOMING and state.created_at is not None:
        out[(office, "", local_date(state.created_at), "received", rank)] += 1
    if state.issued_on is not None:
        out[(office, "", state.issued_on, "issued", rank)] += 1
    for a in state.assignments:
        unit, made_in = a.lead.unit or "", a.office_id or office  # a closed office's stay with it
        out[(made_in, unit, EVER, "assignments", rank)] += 1
        out[(made_in, unit, local_date(a.assigned_at), "assigned", rank)] += 1
        if a.completed_on is not None:
            late = "completed_on_time" if a.completed_on <= a.due_date else "completed_late"
            out[(made_in, unit, a.completed_on, late, rank)] += 1
        if a.ended_at is None:
            out[(made_in, unit, a.due_date, "open", rank)] += 1
    return out


def move(delta: dict[Key, int], was: Mapping[Key, int], now: Mapping[Key, int]) -> None:
    """Add to `delta` what one document counts for `now` less what it counted for (`was`)."""
    if was == now:  # most events move no count
        return
    for k, n in now.items():
        delta[k] = delta.get(k, 0) + n
    for k, n in was.items():
        delta[k] = delta.get(k, 0) - n


async def write_delta(conn: Conn, s: str, delta: Mapping[Key, int]) -> None:
    """Move the counters by `delta` (see `move`), deleting the rows whose count falls to zero."""
    keys = sorted(k for k, n in delta.items() if n)  # one lock order for every writer: no deadlock
    if not keys:
        return
    columns = [list(c) for c in zip(*keys, strict=True)]
    await conn.execute(
        f"""INSERT INTO {s}.stat_counts AS c (office_id, unit_id, day, measure, secrecy_rank, n)
            SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::smallint[], $6::int[])
            ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (office_id, measure, day, unit_id, secrecy_rank)
            DO UPDATE SET n = c.n + EXCLUDED.n""",
        *columns,
        [delta[k] for k in keys],
    )
    fell = [k for k in keys if delta[k] < 0]  # only a count that went down can have reached zero
    if not fell:
        return
    await conn.execute(
        f"""DELETE FROM {s}.stat_counts c USING unnest($1::text[], $2::text[], $3::date[], $4::text[],
                $5::smallint[]) AS k(o, u, d, m, r)
            WHERE c.office_id = k.o AND c.unit_id = k.u AND c.day = k.d AND c.measure = k.m
              AND c.secrecy_rank = k.r AND c.n = 0""",
        *[list(c) for c in zip(*fell, strict=True)],
    )
