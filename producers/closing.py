"""Closing an office: a recorded act on its stream (`OfficeClosed`), then each of its open documents
handed over to its first successor by an action on that document (`DocumentHandedOver`), in one
transaction, so no document is left behind and none is created there meanwhile (`guard_creation`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from deploy.config.db import Conn
from deploy.config.offices import Offices
from producers import store
from producers.acts import append_act
from producers.closures import closures
from producers.errors import ClosingRefused
from producers.handler import HandleRequest, handle
from schemas.acts import CloseOffice, office_stream
from schemas.commands import HandOver
from schemas.deadlines import local_date
from schemas.envelope import Actor
from schemas.events import OfficeClosed
from schemas.transitions import OPEN_STATES

_CREATED = ["DocumentReceived", "DocumentDrafted", "TaskCreated"]


@dataclass(frozen=True)
class Closed:
    position: int  # of the last event written (the API's consistency token)
    handed_over: list[str]  # the documents handed to the first successor


async def close_office(
    conn: Conn, office_id: str, closing: CloseOffice, actor: Actor, now: datetime, offices: Offices
) -> Closed:
    """Record that `office_id` closed and hand its open documents over; raises ClosingRefused (why not)
    or UnknownOffice."""
    office = offices[office_id]
    if office.parent_id is None:
        raise ClosingRefused(f"office {office_id} is the top office: it cannot close")
    if closing.closed_on > local_date(now):
        raise ClosingRefused(f"closed_on: {closing.closed_on} is after today ({local_date(now)})")
    if office.opened_on is not None and closing.closed_on < office.opened_on:
        raise ClosingRefused(f"closed_on: {closing.closed_on} is before it opened ({office.opened_on})")
    if len(set(closing.successors)) != len(closing.successors):
        raise ClosingRefused("successors: must not repeat")
    for successor in closing.successors:
        if successor == office_id:
            raise ClosingRefused(f"successors: office {office_id} cannot succeed itself")
        if successor not in offices:
            raise ClosingRefused(f"successors: {successor!r} is not a configured office")
    successor = closing.successors[0]
    async with conn.transaction():
        event = OfficeClosed(
            office_id=office_id,
            closed_on=closing.closed_on,
            successors=closing.successors,
            basis=closing.basis,
        )
        # Taken first: it holds the office's lock, so no document is created there until this commits.
        position = await append_act(conn, office_stream(office_id), event, actor, now)
        closed = await closures(conn, [office_id, *closing.successors])
        if office_id in closed:
            raise ClosingRefused(
                f"office {office_id} already closed on {closed[office_id].closed_on.isoformat()}", status=409
            )
        for name in closing.successors:
            if name in closed:
                raise ClosingRefused(
                    f"successors: office {name} closed on {closed[name].closed_on.isoformat()}; "
                    f"name its successor {closed[name].successors[0]} instead"
                )
        await conn.execute(
            "INSERT INTO office_closures (office_id, closed_on, successors, basis, position, closed_at) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            office_id,
            closing.closed_on,
            list(closing.successors),
            closing.basis,
            position,
            now,
        )
        handed: list[str] = []
        command = HandOver(to_office=successor, closed_on=closing.closed_on, basis=closing.basis)
        still_open = []
        for document_id in await held_documents(conn, office_id):
            state = (await store.load(conn, document_id)).state
            if state.office_id != office_id or state.kind is None:
                continue
            if state.state not in OPEN_STATES[state.kind]:
                continue  # finished documents stay, readable, with the office that finished them
            still_open.append(state)
        # A registered one takes the successor's next số đến: in the order the closed office registered them.
        still_open.sort(key=lambda s: (s.registered_on or date.max, s.incoming_number or 0, s.id))
        for state in still_open:
            result = await handle(conn, HandleRequest(command, state.id, None, actor, now=now), offices)
            handed.append(state.id)
            position = max(position, result.position)
    return Closed(position, handed)


async def held_documents(conn: Conn, office_id: str) -> list[str]:
    """Every document created in, or handed over to, `office_id` (from the store; a rare act's scan)."""
    rows = await conn.fetch(
        """SELECT DISTINCT stream_id FROM events
           WHERE (version = 1 AND type = ANY($2::text[])
                  AND convert_from(body, 'UTF8')::jsonb #>> '{data,office_id}' = $1)
              OR (type = 'DocumentHandedOver'
                  AND convert_from(body, 'UTF8')::jsonb #>> '{data,to_office}' = $1)
           ORDER BY stream_id""",
        office_id,
        _CREATED,
    )
    return [r["stream_id"] for r in rows]
