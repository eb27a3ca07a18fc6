"""Old event versions are read as current ones and fold to the same state."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.feed import notifications
from processors.records import Record
from processors.rows import document_rows
from schemas.calendar import add_working_days
from schemas.deadlines import local_date
from schemas.decider import decide
from schemas.enums import DocumentKind, State
from schemas.envelope import SYSTEM_ACTOR, Envelope
from schemas.events import EVENT_TYPES, DeadlineApproached, DocumentAssigned, DocumentReceived
from schemas.evolve import evolve, fold
from schemas.parsing import parse_action
from schemas.recording import record
from schemas.state import initial_state
from schemas.upcasting import RENAMED, UnknownEvent, current_type, read_event, upcast
from tests.unit.lifecycle import ACTOR, NOW, act, body, create, reach


def v1(current: Envelope, data: dict[str, object]) -> Envelope:
    return Envelope(
        event_id=current.event_id,
        stream_id=current.stream_id,
        version=current.version,
        type=current.type,
        schema_version=1,
        occurred_at=current.occurred_at,
        actor=current.actor,
        data=data,
    )


def current_stream(summary: str, working_days: int) -> list[Envelope]:
    """Receive, register and assign with a deadline in working days, as the code records them today."""
    received = DocumentReceived(
        office_id="o1",
        issuing_body="Tỉnh ủy",
        number_code="15-TB/TU",
        document_date="2024-04-20",  # type: ignore[arg-type]
        document_type="TB",  # type: ignore[arg-type]
        summary=summary,
        urgency="thuong",  # type: ignore[arg-type]
        secrecy="thuong",  # type: ignore[arg-type]
    )
    state = initial_state("d1")
    envelopes = record([received], state, now=NOW, actor=ACTOR, event_ids=[UUID(int=1)])
    state = fold(envelopes)
    due = add_working_days(local_date(NOW), working_days)
    assigned = DocumentAssigned(
        assignment_id="A1",
        lead={"unit": "unit-1"},  # type: ignore[arg-type]
        cooperating=(),
        directive="",
        due_date=due,
        deadline_working_days=working_days,
    )
    envelopes += record([assigned], state, now=NOW + timedelta(hours=1), actor=ACTOR, event_ids=[UUID(int=2)])
    return envelopes


def as_v1(stream: list[Envelope]) -> list[Envelope]:
    received, assigned = stream
    old_received = {
        k: v for k, v in received.data.items() if k not in {"number_code", "summary", "attachments", "source"}
    }
    old_received |= {"so_ky_hieu": received.data["number_code"], "trich_yeu": received.data["summary"]}
    old_assigned = {k: v for k, v in assigned.data.items() if k not in {"due_date", "deadline_working_days"}}
    old_assigned["deadline_days"] = assigned.data["deadline_working_days"]
    return [v1(received, old_received), v1(assigned, old_assigned)]


@settings(max_examples=40, deadline=None)
@given(summary=st.text(min_size=1, max_size=60).filter(str.strip), working_days=st.integers(0, 40))
def test_old_events_fold_to_the_same_state_as_new_ones(summary: str, working_days: int) -> None:
    stream = current_stream(summary.strip(), working_days)
    assert fold(as_v1(stream)) == fold(stream)


def test_unknown_types_and_future_versions_are_refused() -> None:
    received = current_stream("x", 1)[0]
    with pytest.raises(UnknownEvent, match="newer"):
        upcast(replace(received, schema_version=9))
    with pytest.raises(UnknownEvent, match="unknown event type"):
        upcast(replace(received, type="DocumentEaten"))


def test_upcasted_payload_keeps_the_v1_facts() -> None:
    old_received, old_assigned = as_v1(current_stream("Về việc tổ chức hội nghị", 5))
    lifted = upcast(old_received)
    assert (lifted["number_code"], lifted["summary"], lifted["attachments"]) == (
        "15-TB/TU",
        "Về việc tổ chức hội nghị",
        [],
    )
    # 5 working days from Friday 26/4/2024: 2, 3, 4 (made-up Saturday), 6, 7 May.
    assert upcast(old_assigned)["due_date"] == "2024-05-07"


def test_a_created_document_still_folds_after_actions() -> None:
    # The helpers themselves go through the current versions; a smoke check that nothing depends on v1.
    assert act(create(DocumentKind.INCOMING), "register").incoming_number == 7


# What the chaser stored before the event was renamed: the same payload under the old type name.
OLD_APPROACHING = (
    '{"actor":{"office":"","roles":["system"],"user":"system"},"causation_id":null,"correlation_id":null,'
    '"data":{"assignment_id":"A1","due_date":"2024-04-26"},"event_id":"00000000-0000-0000-0000-000000000009",'
    '"idempotency_key":null,"occurred_at":"2024-04-26T02:00:00.000000+00:00","schema_version":1,'
    '"stream_id":"d1","type":"DeadlineApproaching","version":5}'
)


def test_a_stored_deadline_approaching_reads_and_folds_as_deadline_approached() -> None:
    assigned = reach(DocumentKind.INCOMING, State.ASSIGNED)
    events = decide(parse_action(DocumentKind.INCOMING, body("mark_deadline_approaching")), assigned, NOW)
    (new,) = record(events, assigned, now=NOW, actor=SYSTEM_ACTOR, event_ids=[UUID(int=9)])
    old = Envelope.from_json(OLD_APPROACHING)
    # Parsing keeps the stored name and bytes (the hash chain and replication compare them).
    assert (old.type, new.type) == ("DeadlineApproaching", "DeadlineApproached")
    assert old.canonical_bytes() == OLD_APPROACHING.encode()
    assert replace(old, type=new.type) == new
    assert read_event(old) == read_event(new) and isinstance(read_event(old), DeadlineApproached)
    after = evolve(assigned, old)
    assert after == evolve(assigned, new) and after.assignments[0].approaching_marked
    # Read models built from either name are the same.
    assert current_type(old.type) == new.type
    assert document_rows(after, old.type) == document_rows(after, new.type)
    kafka = Record("events", 0, 5, b"d1", OLD_APPROACHING.encode())
    assert notifications(after, old, kafka) == notifications(after, new, kafka)
    assert json.loads(OLD_APPROACHING)["data"] == upcast(old) == new.data


def test_renamed_types_name_current_types_only() -> None:
    assert not set(RENAMED) & set(EVENT_TYPES) and set(RENAMED.values()) <= set(EVENT_TYPES)


def test_a_v1_issue_keeps_the_number_it_was_given() -> None:
    # Before numbering per type and term, a secret CV took number 3 of the year's secret series.
    issued = reach(DocumentKind.OUTGOING, State.ISSUED)
    signed = reach(DocumentKind.OUTGOING, State.SIGNED)
    old_data = {
        "outgoing_number": 3,
        "number_code": "03-CV/TU",
        "series": "mat",
        "year": 2024,
        "recipients": ["o2"],
        "issued_on": "2024-04-26",
    }
    stored = Envelope(
        event_id=UUID(int=77),
        stream_id=signed.id,
        version=signed.version + 1,
        type="DocumentIssued",
        schema_version=1,
        occurred_at=NOW,
        actor=ACTOR,
        data=old_data,
    )
    after = evolve(signed, stored)
    assert (after.outgoing_number, after.number_code, after.series, after.number_year) == (
        3,
        "03-CV/TU",
        "mat",
        2024,
    )
    assert after.numbering == "year" and after.term_starts_on is None and after.state is State.ISSUED
    assert issued.numbering == "term"
