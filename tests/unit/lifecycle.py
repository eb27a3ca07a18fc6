"""Test helpers: drive documents through the front door (API bodies) into any state of the table."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.commands import Command
from schemas.decider import decide
from schemas.enums import DocumentKind, State
from schemas.envelope import Actor, Envelope
from schemas.evolve import evolve
from schemas.numbering import numbering_needed, with_number
from schemas.parsing import parse_action, parse_create
from schemas.recording import record
from schemas.state import DocumentState, initial_state

NOW = datetime(2024, 4, 26, 2, 0, tzinfo=UTC)  # Friday 26/4/2024, 09:00 in Hà Nội
LATER = NOW + timedelta(days=60)
ACTOR = Actor(user="u-clerk", office="o1", roles=("clerk", "leader"))
SHA = "0" * 64

# The sample request bodies of every test: what each kind needs, the rest left to its defaults (plain,
# not urgent, no files). Other tests take theirs from `create_body` and `body`.
PLAIN: dict[DocumentKind, dict[str, Any]] = {
    DocumentKind.INCOMING: {
        "kind": "incoming",
        "office_id": "o1",
        "issuing_body": "Ban Tổ chức Thành ủy",
        "number_code": "125-CV/BTCTU",
        "document_date": "2024-04-20",
        "document_type": "CV",
        "summary": "Về việc chuẩn bị nhân sự đại hội",
    },
    DocumentKind.OUTGOING: {
        "kind": "outgoing",
        "office_id": "o1",
        "document_type": "CV",
        "summary": "Về việc báo cáo tình hình",
    },
    DocumentKind.TASK: {"kind": "task", "office_id": "o1", "title": "Chuẩn bị báo cáo"},
}

# The table's documents carry every field: secret, with a file.
CREATE: dict[DocumentKind, dict[str, Any]] = {
    DocumentKind.INCOMING: {
        **PLAIN[DocumentKind.INCOMING],
        "urgency": "khan",
        "secrecy": "mat",
        "attachments": [{"name": "cv.pdf", "media_type": "application/pdf", "sha256": SHA, "size": 1024}],
    },
    DocumentKind.OUTGOING: {**PLAIN[DocumentKind.OUTGOING], "urgency": "thuong", "secrecy": "mat"},
    DocumentKind.TASK: {**PLAIN[DocumentKind.TASK], "description": ""},
}

ASSIGN = {
    "lead": {"unit": "unit-1"},
    "cooperating": ["unit-2"],
    "directive": "Xử lý",
    "deadline": {"working_days": 0},
}

# One valid body per action (the action name is added by `body`).
SAMPLES: dict[str, dict[str, Any]] = {
    "register": {},
    "return": {"reason": "Sai địa chỉ"},
    "submit": {},
    "assign": ASSIGN,
    "reassign": {**ASSIGN, "lead": {"user": "u-2"}, "deadline": {"working_days": 3}},
    "start": {},
    "report_progress": {"percent": 50, "note": "Đang làm"},
    "request_extension": {"deadline": {"working_days": 10}, "reason": "Cần thêm thời gian"},
    "decide_extension": {"approve": True, "note": "Đồng ý"},
    "complete": {"result": "Đã trả lời", "reply_document_id": "d-reply"},
    "file": {"dossier": "HS-2024-01"},
    "mark_for_info": {},
    "recall": {"reason": "Ban hành nhầm"},
    "revise": {"summary": "Về việc báo cáo tình hình (sửa)"},
    "submit_review": {},
    "review": {"approve": True, "comments": ""},
    "sign": {"signer_name": "Nguyễn Văn A", "signer_position": "Phó Bí thư", "authority": "T/M"},
    "issue": {"recipients": ["o2", "o3"]},
    "replace": {"replacement_id": "d-new"},
    "correct": {"note": "Sửa ngày ký"},
    "archive": {},
    "cancel": {"reason": "Không cần nữa"},
    "mark_deadline_approaching": {"assignment_id": "A1"},
    "mark_deadline_missed": {"assignment_id": "A1"},
    "record_delivery": {"office_id": "o2", "document_id": "copy-o2"},
    "record_deliveries": {"deliveries": [{"office_id": "o2", "document_id": "copy-o2"}]},
    "record_recipient_status": {"office_id": "o2", "document_id": "copy-o2", "state": "registered"},
    "record_signatures": {"results": [{"sha256": SHA, "signature": {"status": "unsigned", "signers": []}}]},
    "grant_access": {"user": "u-reader"},
    "hand_over": {"to_office": "o2", "closed_on": "2025-06-30", "basis": "NQ 1685/NQ-UBTVQH15"},
    "declassify": {"secrecy": "thuong", "basis": "Quyết định giải mật số 5"},
    "mark_recall_requested": {"reason": "Ban hành nhầm"},
    "mark_intake_overdue": {},
    "mark_replaced": {"replacement_document_id": "copy-new"},
    "mark_issue_overdue": {},
    "confirm_recall": {},
    "refuse_recall": {"reason": "Đã triển khai thực hiện"},
    "record_recall_answer": {"office_id": "o2", "document_id": "copy-o2", "answer": "refused", "reason": "x"},
}

# Actions whose sample needs an earlier fact that leaves the state where it is.
SETUP: dict[str, list[str]] = {
    "decide_extension": ["request_extension"],
    "record_recipient_status": ["record_delivery"],
    "confirm_recall": ["mark_recall_requested"],
    "refuse_recall": ["mark_recall_requested"],
    "record_recall_answer": ["record_delivery"],
}

PATHS: dict[DocumentKind, dict[State, list[str]]] = {
    DocumentKind.INCOMING: {
        State.RECEIVED: [],
        State.REGISTERED: ["register"],
        State.RETURNED: ["return"],
        State.SUBMITTED: ["register", "submit"],
        State.ASSIGNED: ["register", "submit", "assign"],
        State.IN_PROGRESS: ["register", "submit", "assign", "start"],
        State.COMPLETED: ["register", "submit", "assign", "start", "complete"],
        State.FILED: ["register", "submit", "assign", "start", "complete", "file"],
        State.FOR_INFO: ["register", "submit", "mark_for_info"],
        State.RECALLED: ["recall"],
    },
    DocumentKind.OUTGOING: {
        State.DRAFT: [],
        State.REVIEW: ["submit_review", "review"],
        State.SIGNED: ["submit_review", "review", "sign"],
        State.ISSUED: ["submit_review", "review", "sign", "issue"],
        State.CORRECTED: ["submit_review", "review", "sign", "issue", "correct"],
        State.REPLACED: ["submit_review", "review", "sign", "issue", "replace"],
        State.RECALLED: ["submit_review", "review", "sign", "issue", "recall"],
        State.ARCHIVED: ["submit_review", "review", "sign", "issue", "archive"],
    },
    DocumentKind.TASK: {
        State.OPEN: [],
        State.ASSIGNED: ["assign"],
        State.IN_PROGRESS: ["assign", "report_progress"],
        State.COMPLETED: ["assign", "complete"],
        State.CANCELLED: ["cancel"],
    },
}


def create_body(kind: DocumentKind | str, office: str = "o1", /, **fields: Any) -> dict[str, Any]:
    """The API body that creates a plain document of `kind` in `office`, with `fields` set (any of
    them, "kind" and "office_id" too, for bodies that are wrong on purpose)."""
    return {**PLAIN[DocumentKind(kind)], "office_id": office, **fields}


def body(action: str, **fields: Any) -> dict[str, Any]:
    """The API body of `action`: its sample, with `fields` set."""
    return {"action": action, **SAMPLES[action], **fields}


def now_for(action: str) -> datetime:
    # A deadline can only be marked missed once it has passed.
    return LATER if action == "mark_deadline_missed" else NOW


def prepare(command: Command, state: DocumentState, now: datetime, number: int = 7) -> Command:
    """Fill the register number and office code as the write side would."""
    request = numbering_needed(command, state, now)
    return command if request is None else with_number(command, number, "TU")


def apply(
    state: DocumentState, command: Command, now: datetime = NOW
) -> tuple[DocumentState, list[Envelope]]:
    """Decide and fold, as the write side does; returns the new state and the recorded envelopes."""
    command = prepare(command, state, now)
    envelopes = record(decide(command, state, now), state, now=now, actor=ACTOR)
    for envelope in envelopes:
        state = evolve(state, envelope)
    return state, envelopes


def act(state: DocumentState, action: str) -> DocumentState:
    assert state.kind is not None
    return apply(state, parse_action(state.kind, body(action)), now_for(action))[0]


def create(
    kind: DocumentKind, document_id: str = "d1", overrides: Mapping[str, Any] | None = None
) -> DocumentState:
    return apply(initial_state(document_id), parse_create({**CREATE[kind], **(overrides or {})}))[0]


def reach(kind: DocumentKind, target: State) -> DocumentState:
    state = create(kind)
    for action in PATHS[kind][target]:
        state = act(state, action)
    assert state.state is target, (kind, target, state.state)
    return state
