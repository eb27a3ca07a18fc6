"""Old event versions are read as current ones and fold to the same state."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.calendar import add_working_days
from schemas.deadlines import local_date
from schemas.enums import DocumentKind
from schemas.envelope import Envelope
from schemas.events import DocumentAssigned, DocumentReceived
from schemas.evolve import fold
from schemas.recording import record
from schemas.state import initial_state
from schemas.upcasting import UnknownEvent, upcast
from tests.unit.lifecycle import ACTOR, NOW, act, create


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
