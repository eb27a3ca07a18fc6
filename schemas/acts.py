"""Recorded acts that are no document's: an office's committee term, a year's published calendar.

They are events like any other (hashed, chained, published, audited), each kind on its own streams, and
never folded into a document: readers of documents skip these streams (`is_act_stream`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

from schemas.events import CalendarDay
from schemas.values import Id, Line, Model, RequiredText

OFFICE_STREAM = "office:"
CALENDAR_STREAM = "calendar:"


def office_stream(office_id: str) -> str:
    return f"{OFFICE_STREAM}{office_id}"


def calendar_stream(year: int) -> str:
    return f"{CALENDAR_STREAM}{year}"


def is_act_stream(stream_id: str) -> bool:
    """Whether a stream holds an office's or a calendar's acts rather than a document's events."""
    return stream_id.startswith((OFFICE_STREAM, CALENDAR_STREAM))


class SetTerm(Model):
    """`PUT /v1/offices/{office}/term`: the committee term whose per-type numbering starts at 01."""

    starts_on: date
    label: Line


class PublishCalendar(Model):
    """`PUT /v1/calendar/{year}`: a year's announced days off and make-up working days, with the basis."""

    days_off: Annotated[tuple[CalendarDay, ...], Field(max_length=100)] = ()
    working_days: Annotated[tuple[CalendarDay, ...], Field(max_length=100)] = ()
    basis: RequiredText  # the announcement's number and date


class CloseOffice(Model):
    """`POST /v1/offices/{office}/close`: the day it closed, who takes over (the first takes its open
    documents), and the decision it closed by (e.g. Nghị quyết 1685/NQ-UBTVQH15)."""

    closed_on: date
    successors: Annotated[tuple[Id, ...], Field(min_length=1, max_length=20)]
    basis: RequiredText
