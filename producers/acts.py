"""Recording an office's committee term and a year's calendar, and reading them back for deciding.

Each act is an event on its own stream (schemas/acts.py), appended and hashed like a document's, and
indexed in a small table in the same transaction, so the write side reads the current term and calendar
without scanning the store.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from deploy.config.db import Conn
from producers import store
from producers.closures import ACT_LOCK
from producers.hashing import GENESIS
from schemas.acts import PublishCalendar, SetTerm, calendar_stream, office_stream
from schemas.calendar import Calendar, YearCalendar, with_publications
from schemas.envelope import Actor
from schemas.events import CalendarPublished, Event, TermSet
from schemas.recording import record
from schemas.state import DocumentState


async def append_act(conn: Conn, stream_id: str, event: Event, actor: Actor, now: datetime) -> int:
    # Acts of one stream queue on this lock, so each appends after the last one committed.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", stream_id, ACT_LOCK)
    last = await conn.fetchrow(
        "SELECT version, hash FROM events WHERE stream_id = $1 ORDER BY version DESC LIMIT 1", stream_id
    )
    version, prev = (0, GENESIS) if last is None else (last["version"], bytes(last["hash"]))
    envelopes = record([event], DocumentState(id=stream_id, version=version), now=now, actor=actor)
    appended = await store.append(conn, envelopes, prev)
    return appended[-1].position


async def set_term(conn: Conn, office_id: str, term: SetTerm, actor: Actor, now: datetime) -> int:
    """Record `office_id`'s committee term; answers the event's position."""
    event = TermSet(office_id=office_id, starts_on=term.starts_on, label=term.label)
    async with conn.transaction():
        position = await append_act(conn, office_stream(office_id), event, actor, now)
        await conn.execute(
            "INSERT INTO office_terms (office_id, starts_on, label, position) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (office_id, starts_on) DO UPDATE SET label = EXCLUDED.label, "
            "position = EXCLUDED.position",
            office_id,
            term.starts_on,
            term.label,
            position,
        )
    return position


async def current_term(conn: Conn, office_id: str, on: date) -> date | None:
    """The first day of the office's term in force on `on` (None: its first term, never set)."""
    starts_on: date | None = await conn.fetchval(
        "SELECT max(starts_on) FROM office_terms WHERE office_id = $1 AND starts_on <= $2", office_id, on
    )
    return starts_on


async def terms(conn: Conn, office_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT starts_on, label FROM office_terms WHERE office_id = $1 ORDER BY starts_on", office_id
    )
    return [{"starts_on": r["starts_on"].isoformat(), "label": r["label"]} for r in rows]


async def publish_calendar(
    conn: Conn, year: int, publication: PublishCalendar, actor: Actor, now: datetime
) -> int:
    """Record a year's published calendar (checked first: a bad day is a ValueError); answers its position."""
    event = CalendarPublished(
        year=year,
        days_off=publication.days_off,
        working_days=publication.working_days,
        basis=publication.basis,
    )
    YearCalendar.from_dict(event.data())  # the same checks the calendar applies when it is read
    async with conn.transaction():
        position = await append_act(conn, calendar_stream(year), event, actor, now)
        await conn.execute(
            "INSERT INTO published_calendar (year, body, position, published_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (year) DO UPDATE SET body = EXCLUDED.body, position = EXCLUDED.position, "
            "published_at = EXCLUDED.published_at",
            year,
            event.data(),
            position,
            now,
        )
    return position


_built: dict[tuple[tuple[int, int], ...], Calendar] = {}  # by (year, position) of every publication


async def load_calendar(conn: Conn) -> Calendar:
    """The calendar deadlines are computed with: the packaged years, replaced by any published since."""
    rows = await conn.fetch("SELECT year, position, body FROM published_calendar ORDER BY year")
    key = tuple((r["year"], r["position"]) for r in rows)
    if key not in _built:
        if len(_built) > 16:  # each database (a test's, a rebuild's) has its own publications
            _built.clear()
        _built[key] = with_publications(r["body"] for r in rows)
    return _built[key]


async def calendar_history(conn: Conn, year: int) -> list[dict[str, Any]]:
    """Every publication of `year`, oldest first: who published what, when, on which basis."""
    items = []
    for event in await store.history(conn, calendar_stream(year)):
        env = event.envelope
        items.append(
            {
                "position": event.position,
                "version": env.version,
                "type": env.type,
                "occurred_at": env.occurred_at.isoformat(),
                "actor": env.actor.to_dict(),
                "basis": env.data.get("basis", ""),
                "data": dict(env.data),
            }
        )
    return items
