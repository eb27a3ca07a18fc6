"""Which offices have closed, and the write side's guards that follow from it (no delivery to a closed
office, no new document in one; nor to or in one that has not opened yet). The closing act itself is
`producers.closing.close_office`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from deploy.config.db import Conn
from deploy.config.offices import Offices
from producers.errors import OfficeClosed, OfficeNotOpen
from schemas.acts import office_stream

ACT_LOCK = 13  # the second key of an office stream's advisory lock (producers.acts.append_act takes it)


@dataclass(frozen=True, slots=True)
class Closure:
    office_id: str
    closed_on: date
    successors: tuple[str, ...]
    basis: str
    closed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "closed_on": self.closed_on.isoformat(),
            "successors": list(self.successors),
            "basis": self.basis,
        }

    def refusal(self) -> OfficeClosed:
        return OfficeClosed(self.office_id, self.closed_on, self.successors)


async def closures(conn: Conn, office_ids: Iterable[str] | None = None) -> dict[str, Closure]:
    """The closed offices (all, or those among `office_ids`), by id."""
    ids = None if office_ids is None else sorted(set(office_ids))
    rows = await conn.fetch(
        "SELECT office_id, closed_on, successors, basis, closed_at FROM office_closures "
        "WHERE $1::text[] IS NULL OR office_id = ANY($1::text[])",
        ids,
    )
    return {
        r["office_id"]: Closure(
            r["office_id"], r["closed_on"], tuple(r["successors"]), r["basis"], r["closed_at"]
        )
        for r in rows
    }


async def refuse_closed(conn: Conn, office_ids: Iterable[str]) -> None:
    """Raise OfficeClosed for the first of these offices that has closed (a delivery to it is refused)."""
    ids = list(office_ids)
    found = await closures(conn, ids)
    for office_id in ids:
        if office_id in found:
            raise found[office_id].refusal()


def refuse_not_open(offices: Offices, office_ids: Iterable[str], today: date) -> None:
    """Raise OfficeNotOpen for the first of these configured offices that opens after `today` (an office
    not configured is refused elsewhere)."""
    for office_id in office_ids:
        office = offices.get(office_id)
        if office is not None and office.opened_on is not None and office.opened_on > today:
            raise OfficeNotOpen(office_id, office.opened_on, today)


async def guard_creation(conn: Conn, office_id: str, delivered: bool) -> Closure | None:
    """Before a document is created in `office_id`: wait for a closing of that office under way, then
    refuse the creation if it closed, unless it is a copy the saga delivers (issued before the closing;
    the saga hands it over at once). Answers the office's closure, if any (None for a delivered copy:
    it is created wherever it was addressed)."""
    if delivered:
        return None
    await conn.execute(
        "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, $2))", office_stream(office_id), ACT_LOCK
    )
    closure = (await closures(conn, [office_id])).get(office_id)
    if closure is not None:
        raise closure.refusal()
    return closure
