"""Every transition in the table is accepted, every action outside it is refused, state by state."""

from __future__ import annotations

import pytest

from schemas.commands import ALL_COMMANDS
from schemas.decider import DomainError, decide
from schemas.enums import DocumentKind, State
from schemas.parsing import parse_action, parse_create
from schemas.state import initial_state
from schemas.transitions import TRANSITIONS, allowed_actions, targets
from tests.unit.lifecycle import CREATE, NOW, PATHS, SETUP, act, apply, body, now_for, prepare, reach

ALLOWED = [
    (kind, state, action)
    for kind, table in TRANSITIONS.items()
    for state, actions in table.items()
    for action in actions
    if state is not State.NEW
]

KIND_ACTIONS = {kind: {c.action for c in ALL_COMMANDS if kind in c.kinds} for kind in DocumentKind}
CREATION = {"receive", "draft", "create"}

REFUSED = [
    (kind, state, action)
    for kind, table in TRANSITIONS.items()
    for state in table
    if state is not State.NEW
    for action in sorted(KIND_ACTIONS[kind] - CREATION - set(table[state]))
]


def test_every_state_of_the_table_is_reachable_by_the_helpers() -> None:
    for kind, table in TRANSITIONS.items():
        assert set(PATHS[kind]) == set(table) - {State.NEW}


def test_targets_are_states_of_the_same_kind() -> None:
    for table in TRANSITIONS.values():
        for actions in table.values():
            for nexts in actions.values():
                assert set(nexts) <= set(table)


@pytest.mark.parametrize(("kind", "state", "action"), ALLOWED, ids=lambda v: getattr(v, "value", v))
def test_allowed_transition(kind: DocumentKind, state: State, action: str) -> None:
    document = reach(kind, state)
    for step in SETUP.get(action, []):
        document = act(document, step)
    after = act(document, action)
    assert after.state in targets(kind, state, action)
    assert after.version >= document.version


@pytest.mark.parametrize(("kind", "state", "action"), REFUSED, ids=lambda v: getattr(v, "value", v))
def test_refused_action(kind: DocumentKind, state: State, action: str) -> None:
    document = reach(kind, state)
    command = prepare(parse_action(kind, body(action)), document, NOW)
    with pytest.raises(DomainError) as refused:
        decide(command, document, now_for(action))
    assert refused.value.state is state
    assert refused.value.allowed == allowed_actions(kind, state)
    assert state.value in str(refused.value)


@pytest.mark.parametrize("kind", list(DocumentKind))
def test_creation_only_on_a_new_stream(kind: DocumentKind) -> None:
    document = reach(kind, next(iter(PATHS[kind])))
    with pytest.raises(DomainError):
        decide(parse_create(CREATE[kind]), document, NOW)
    with pytest.raises(DomainError, match="new"):
        decide(
            parse_action(kind, body("cancel" if kind is DocumentKind.TASK else "recall")),
            initial_state("x"),
            NOW,
        )


# --- hand-written expectations for the key cases ----------------------------------------------------------


def test_incoming_received_accepts_register_return_recall() -> None:
    # and, on a delivered copy, the answer to its sender's recall (DOMAIN.md: recall reaches recipients)
    assert allowed_actions(DocumentKind.INCOMING, State.RECEIVED) == (
        "confirm_recall",
        "declassify",
        "grant_access",
        "hand_over",  # when its office closes (DOMAIN.md: offices open and close)
        "mark_intake_overdue",
        "mark_recall_requested",
        "mark_replaced",
        "recall",
        "record_signatures",
        "refuse_recall",
        "register",
        "return",
    )


def test_start_before_assignment_is_refused_and_says_what_is_possible() -> None:
    registered = reach(DocumentKind.INCOMING, State.REGISTERED)
    with pytest.raises(DomainError) as refused:
        decide(parse_action("incoming", {"action": "start"}), registered, NOW)
    message = str(refused.value)
    assert "registered" in message and "submit" in message and "assign" in message


def test_incoming_happy_path_ends_filed_with_its_history() -> None:
    filed = reach(DocumentKind.INCOMING, State.FILED)
    assert filed.incoming_number == 7 and filed.register_name == "mat"  # secret: its own series
    assert filed.dossier == "HS-2024-01" and filed.reply_document_id == "d-reply"
    assert filed.completed_at is not None and filed.assignments[0].completed_on is not None


def test_outgoing_is_numbered_party_style_at_issue() -> None:
    issued = reach(DocumentKind.OUTGOING, State.ISSUED)
    # a secret CV is numbered on the CV series, not a secret series of its own (HD 36-HD/VPTW)
    assert (issued.outgoing_number, issued.number_code, issued.series) == (7, "07-CV/TU", "CV")
    assert issued.numbering == "term" and issued.signer_name == "Nguyễn Văn A"
    assert issued.recipients == ("o2", "o3")


def test_a_draft_sent_back_returns_to_draft() -> None:
    review = reach(DocumentKind.OUTGOING, State.REVIEW)
    sent_back = parse_action("outgoing", {"action": "review", "approve": False, "comments": "Sửa lại"})
    after = apply(review, sent_back)[0]
    assert after.state is State.DRAFT and [r.approved for r in after.reviews] == [True, False]


def test_sign_needs_an_approved_review() -> None:
    draft = reach(DocumentKind.OUTGOING, State.DRAFT)
    in_review = act(draft, "submit_review")
    with pytest.raises(DomainError, match="approved review"):
        decide(parse_action("outgoing", body("sign")), in_review, NOW)


def test_issued_can_be_replaced_corrected_recalled_or_archived() -> None:
    assert allowed_actions(DocumentKind.OUTGOING, State.ISSUED) == (
        "archive",
        "correct",
        "declassify",
        "grant_access",
        "recall",
        "record_deliveries",
        "record_delivery",
        "record_recall_answer",
        "record_recipient_status",
        "replace",
    )


def test_task_cannot_be_cancelled_once_completed() -> None:
    completed = reach(DocumentKind.TASK, State.COMPLETED)
    with pytest.raises(DomainError, match="completed"):
        decide(parse_action("task", {"action": "cancel", "reason": "x"}), completed, NOW)


def test_actions_of_another_kind_are_refused() -> None:
    task = reach(DocumentKind.TASK, State.ASSIGNED)
    with pytest.raises(DomainError):
        decide(parse_action("incoming", {"action": "start"}), task, NOW)


def test_a_recall_is_answered_once_confirmed_recalls_the_copy() -> None:
    registered = reach(DocumentKind.INCOMING, State.REGISTERED)
    with pytest.raises(DomainError, match="recalled nothing"):
        decide(parse_action("incoming", body("confirm_recall")), registered, NOW)
    asked = act(registered, "mark_recall_requested")
    assert asked.recall_request is not None and asked.state is State.REGISTERED
    assert decide(parse_action("incoming", body("mark_recall_requested")), asked, NOW) == []  # asked once
    confirmed = act(asked, "confirm_recall")
    assert confirmed.state is State.RECALLED and confirmed.recall_request.answer == "confirmed"  # type: ignore[union-attr]
    refused = act(asked, "refuse_recall")
    assert refused.state is State.REGISTERED and refused.recall_request.answer == "refused"  # type: ignore[union-attr]
    with pytest.raises(DomainError):
        decide(parse_action("incoming", body("confirm_recall")), refused, NOW)
