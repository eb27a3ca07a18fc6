"""Reading stored events of any schema version as the current event classes.

Stored events are never rewritten: each keeps the type name and schema_version it was written with. A
renamed type is read under its current name (its versions carry on under that name), and an upcaster per
(current type, version) lifts its payload one version up when it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.calendar import default_calendar
from schemas.deadlines import local_date
from schemas.envelope import Envelope
from schemas.events import EVENT_TYPES, Event

Upcaster = Callable[[dict[str, Any], Envelope], dict[str, Any]]


def _received_v1(data: dict[str, Any], _: Envelope) -> dict[str, Any]:
    # The pilot import used the register's Vietnamese column names and carried no files or source.
    lifted = {k: v for k, v in data.items() if k not in {"so_ky_hieu", "trich_yeu"}}
    return {**lifted, "number_code": data["so_ky_hieu"], "summary": data["trich_yeu"], "attachments": []}


def _assigned_v1(data: dict[str, Any], envelope: Envelope) -> dict[str, Any]:
    # v1 stored the deadline as working days, to be counted at read time. The date is now fixed from the
    # assignment day and today's calendar data; that dependence is why v2 stores the date itself.
    days = int(data["deadline_days"])
    due = default_calendar().add_working_days(local_date(envelope.occurred_at), days)
    lifted = {k: v for k, v in data.items() if k != "deadline_days"}
    return {**lifted, "due_date": due.isoformat(), "deadline_working_days": days}


def _issued_v1(data: dict[str, Any], _: Envelope) -> dict[str, Any]:
    # v1 numbered per calendar year, secret documents on series "mat". Those numbers were printed on
    # documents that are out in the world: they are kept as given, only marked as the year numbering.
    return {**data, "numbering": "year", "term_starts_on": None}


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("DocumentReceived", 1): _received_v1,
    ("DocumentAssigned", 1): _assigned_v1,
    ("DocumentIssued", 1): _issued_v1,
}


# Old type name -> current one. The payload is unchanged by a rename, so the stored schema_version is read
# as that version of the current type; add an upcaster if a rename ever comes with a new shape.
RENAMED: dict[str, str] = {
    "DeadlineApproaching": "DeadlineApproached",  # event names are past-tense facts
}


def current_type(name: str) -> str:
    """The current name of a stored event type: read models show this, so old and new events agree."""
    return RENAMED.get(name, name)


class UnknownEvent(ValueError):
    """A stored event whose type or version this code cannot read."""


def upcast(envelope: Envelope) -> dict[str, Any]:
    """The envelope's payload lifted to the current schema version of its type."""
    name = current_type(envelope.type)
    cls = EVENT_TYPES.get(name)
    if cls is None:
        raise UnknownEvent(f"type: unknown event type {envelope.type!r}")
    data, version = dict(envelope.data), envelope.schema_version
    if version > cls.schema_version:
        raise UnknownEvent(f"schema_version: {envelope.type} v{version} is newer than this code")
    while version < cls.schema_version:
        step = UPCASTERS.get((name, version))
        if step is None:
            raise UnknownEvent(f"schema_version: no upcaster for {name} v{version}")
        data, version = step(data, envelope), version + 1
    return data


def read_event(envelope: Envelope) -> Event:
    """The typed, current-version event inside a stored envelope."""
    return EVENT_TYPES[current_type(envelope.type)].model_validate(upcast(envelope))
