"""Bàn giao on the pure side (DOMAIN.md, "Offices open and close"): a document a closed office handed over
is entered in the successor's register under a số đến of its own while the closed office's register keeps
its number, and work the closed office's units held goes back to the successor's leader to assign."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import pytest

from processors.rows import HANDED_OVER, INCOMING_REGISTER_COLUMNS, incoming_register_rows
from schemas.commands import HandOver
from schemas.deadlines import local_date
from schemas.decider import DomainError, decide
from schemas.enums import DocumentKind, State
from schemas.envelope import Envelope
from schemas.evolve import evolve, fold
from schemas.numbering import NumberRequest, numbering_needed, with_number
from schemas.recording import record
from schemas.state import DocumentState
from tests.unit.lifecycle import ACTOR, NOW, act, reach

HAND = HandOver(to_office="o2", closed_on=date(2024, 4, 25), basis="Nghị quyết 1685/NQ-UBTVQH15")


def _hand_over(doc: DocumentState, number: int | None) -> tuple[DocumentState, Envelope]:
    command = HAND if number is None else with_number(HAND, number)
    envelopes = record(decide(command, doc, NOW), doc, now=NOW, actor=ACTOR)
    assert len(envelopes) == 1
    return fold(envelopes, doc), envelopes[0]


def _registers(doc: DocumentState) -> dict[str, dict[str, Any]]:
    rows = [dict(zip(INCOMING_REGISTER_COLUMNS, r, strict=True)) for r in incoming_register_rows(doc)]
    by_office = {r["office_id"]: r for r in rows}
    assert len(by_office) == len(rows)  # one row per register (the table's key: document, office)
    return by_office


def test_the_successor_numbers_a_registered_document_in_its_own_register() -> None:
    doc = reach(DocumentKind.INCOMING, State.IN_PROGRESS)  # số đến 7 in o1's register, led by unit-1
    assert doc.office_id == "o1" and doc.incoming_number == 7 and doc.register_name
    today = local_date(NOW)
    # the write side takes the number from the successor's series, like a registration's
    wanted = NumberRequest("o2", "incoming", doc.register_name, str(today.year))
    assert numbering_needed(HAND, doc, NOW) == wanted
    with pytest.raises(DomainError, match="register number"):
        decide(HAND, doc, NOW)

    after, event = _hand_over(doc, 1)
    assert event.type == "DocumentHandedOver"
    assert event.data["incoming_number"] == 1 and event.data["register_name"] == doc.register_name
    assert event.data["registered_on"] == today.isoformat() and event.data["assignment_ended"] == "A1"
    assert after.office_id == "o2" and after.held_by == ("o1",)
    assert (after.incoming_number, after.registered_in, after.registered_on) == (1, "o2", today)
    (kept,) = after.former_registrations
    assert (kept.office_id, kept.incoming_number, kept.handed_to) == ("o1", 7, "o2")

    registers = _registers(after)
    assert set(registers) == {"o1", "o2"}
    closed, successor = registers["o1"], registers["o2"]
    # the closed office's register still shows its number, its lead and deadline, and that it handed over
    assert closed["number"] == 7 and closed["progress"] == HANDED_OVER and closed["handed_to"] == "o2"
    assert closed["recipient"] == "unit-1" and closed["due_date"] == doc.assignments[0].due_date
    assert closed["received_on"] == (doc.received_on or doc.registered_on)
    # the successor's: its own number, received the day it was handed over, waiting for its leader
    assert successor["number"] == 1 and successor["handed_from"] == "o1" and successor["handed_to"] is None
    assert successor["received_on"] == today and successor["year"] == today.year
    assert successor["recipient"] is None and successor["due_date"] is None
    assert successor["progress"] == "submitted"

    # the successor's leader assigns it to one of its units: its register row shows that lead
    assigned = act(after, "assign")
    assert assigned.state is State.ASSIGNED and assigned.current_assignment is not None
    registers = _registers(assigned)
    assert registers["o2"]["recipient"] == "unit-1" and registers["o2"]["due_date"] is not None
    assert registers["o1"]["progress"] == HANDED_OVER and registers["o1"]["number"] == 7


def test_the_closed_offices_assignment_ends_and_the_document_waits_for_the_successors_leader() -> None:
    for kind, waiting in ((DocumentKind.INCOMING, State.SUBMITTED), (DocumentKind.TASK, State.OPEN)):
        for state in (State.ASSIGNED, State.IN_PROGRESS):
            doc = reach(kind, state)
            number = 1 if doc.incoming_number is not None else None
            after, event = _hand_over(doc, number)
            assert after.state is waiting, (kind, state)
            assert after.current_assignment is None and event.data["assignment_ended"] == "A1"
            (ended,) = after.assignments
            assert ended.ended_at is not None and ended.superseded_by is None
            assert act(after, "assign").state is State.ASSIGNED  # the successor's leader takes it from there
    # a document nobody was assigned keeps its state
    for kind, state in ((DocumentKind.INCOMING, State.REGISTERED), (DocumentKind.TASK, State.OPEN)):
        doc = reach(kind, state)
        after, event = _hand_over(doc, 1 if doc.incoming_number else None)
        assert after.state is state and event.data["assignment_ended"] is None


def test_only_a_registered_incoming_document_takes_a_number_from_the_successor() -> None:
    for kind, state in (
        (DocumentKind.INCOMING, State.RECEIVED),  # the successor's clerk registers it, in its register
        (DocumentKind.OUTGOING, State.DRAFT),  # numbered when the successor issues it
        (DocumentKind.TASK, State.ASSIGNED),
    ):
        doc = reach(kind, state)
        assert numbering_needed(HAND, doc, NOW) is None, kind
        after, event = _hand_over(doc, None)
        assert event.data["incoming_number"] is None and not after.former_registrations
    received = _hand_over(reach(DocumentKind.INCOMING, State.RECEIVED), None)[0]
    # once registered there, it has one row, in the successor's register, saying where it came from
    registered = act(received, "register")
    assert _registers(registered)["o2"]["handed_from"] == "o1"
    assert set(_registers(registered)) == {"o2"}
    # handed over already (a retried closing): nothing more, and no number taken
    assert numbering_needed(HAND, registered, NOW) is None and decide(HAND, registered, NOW) == []


def test_a_hand_over_recorded_before_these_rules_keeps_the_number_and_the_assignment() -> None:
    doc = reach(DocumentKind.INCOMING, State.IN_PROGRESS)
    old = Envelope(
        event_id=UUID(int=99),
        stream_id=doc.id,
        version=doc.version + 1,
        type="DocumentHandedOver",
        schema_version=1,
        occurred_at=NOW,
        actor=ACTOR,
        data={"from_office": "o1", "to_office": "o2", "closed_on": "2024-04-25", "basis": "NQ"},
    )
    after = evolve(doc, old)
    assert after.office_id == "o2" and after.state is State.IN_PROGRESS
    assert after.current_assignment is not None and after.incoming_number == 7
    registers = _registers(after)
    assert set(registers) == {"o1"}  # the row stays with the office that numbered it, as it was
    assert registers["o1"]["recipient"] == "unit-1" and registers["o1"]["handed_to"] == "o2"


def test_the_closed_offices_assignments_count_in_its_statistics_not_the_successors() -> None:
    from processors.counters import contributions

    doc = act(reach(DocumentKind.INCOMING, State.IN_PROGRESS), "report_progress")
    after, _ = _hand_over(doc, 1)
    assert [a.office_id for a in after.assignments] == ["o1"]
    assigned = act(after, "assign")  # the successor's leader's assignment is the successor's own
    assert [a.office_id for a in assigned.assignments] == ["o1", None]
    counted = contributions(assigned)
    by_office = {(office, unit, measure) for office, unit, _, measure, _ in counted}
    assert ("o1", "unit-1", "assigned") in by_office and ("o1", "unit-1", "assignments") in by_office
    assert ("o2", "unit-1", "assigned") in by_office and ("o2", "unit-1", "open") in by_office
    assert ("o1", "unit-1", "open") not in by_office  # ended by the hand-over: nothing open in o1
    assert sum(n for (office, _, _, measure, _), n in counted.items() if measure == "assigned") == 2
    # the assignments read model says whose each one is, so the successor's deadlines list only its own
    from processors.rows import ASSIGNMENT_COLUMNS, document_rows

    rows = document_rows(assigned, "DocumentAssigned").children["assignments"]
    offices = [dict(zip(ASSIGNMENT_COLUMNS, r, strict=True))["office_id"] for r in rows]
    assert offices == ["o1", "o2"]
