"""The transition table: for each kind and state, the actions allowed and the states they can lead to.

This is the one place the life cycle is written down; `decide` refuses anything not listed here, and
`schemas/TRANSITIONS.md` is rendered from it (`python -m schemas.export --transitions FILE`).
"""

from __future__ import annotations

from schemas.enums import DocumentKind
from schemas.enums import State as S

Table = dict[S, dict[str, tuple[S, ...]]]

# Handling in progress: reassignment, progress, extensions and chasing leave the state where it is.
_HANDLING = ("reassign", "report_progress", "request_extension", "decide_extension")
_CHASING = ("mark_deadline_approaching", "mark_deadline_missed")
# Facts flowing back from recipients keep arriving whatever the sender does with its own copy.
_RECIPIENTS = ("record_delivery", "record_deliveries", "record_recipient_status", "record_recall_answer")
# A delivered copy learns of its sender's recall in any state but recalled, and answers it.
_ASKED = "mark_recall_requested"


def _recall(state: S) -> dict[str, tuple[S, ...]]:
    return {_ASKED: (state,), "confirm_recall": (S.RECALLED,), "refuse_recall": (state,)}


def _stay(state: S, *actions: str) -> dict[str, tuple[S, ...]]:
    return {action: (state,) for action in actions}


# A file's signatures are verified after it arrives, whatever has happened to the document meanwhile.
_INCOMING_SYSTEM = ("grant_access", "record_signatures")

INCOMING: Table = {
    S.NEW: {"receive": (S.RECEIVED,)},
    S.RECEIVED: {
        "register": (S.REGISTERED,),
        "return": (S.RETURNED,),
        "recall": (S.RECALLED,),
        **_recall(S.RECEIVED),
        **_stay(S.RECEIVED, *_INCOMING_SYSTEM, "mark_intake_overdue"),
    },
    S.REGISTERED: {
        "submit": (S.SUBMITTED,),
        "assign": (S.ASSIGNED,),
        "recall": (S.RECALLED,),
        **_recall(S.REGISTERED),
        **_stay(S.REGISTERED, *_INCOMING_SYSTEM, "mark_intake_overdue"),
    },
    S.SUBMITTED: {
        "assign": (S.ASSIGNED,),
        "mark_for_info": (S.FOR_INFO,),
        "recall": (S.RECALLED,),
        **_recall(S.SUBMITTED),
        **_stay(S.SUBMITTED, *_INCOMING_SYSTEM),
    },
    S.ASSIGNED: {
        "start": (S.IN_PROGRESS,),
        "recall": (S.RECALLED,),
        **_recall(S.ASSIGNED),
        **_stay(S.ASSIGNED, *_HANDLING, *_CHASING, *_INCOMING_SYSTEM),
    },
    S.IN_PROGRESS: {
        "complete": (S.COMPLETED,),
        "recall": (S.RECALLED,),
        **_recall(S.IN_PROGRESS),
        **_stay(S.IN_PROGRESS, *_HANDLING, *_CHASING, *_INCOMING_SYSTEM),
    },
    S.COMPLETED: {"file": (S.FILED,), **_recall(S.COMPLETED), **_stay(S.COMPLETED, *_INCOMING_SYSTEM)},
    S.FOR_INFO: {"file": (S.FILED,), **_recall(S.FOR_INFO), **_stay(S.FOR_INFO, *_INCOMING_SYSTEM)},
    S.FILED: {**_recall(S.FILED), **_stay(S.FILED, *_INCOMING_SYSTEM)},
    S.RETURNED: {**_recall(S.RETURNED), **_stay(S.RETURNED, *_INCOMING_SYSTEM)},
    S.RECALLED: _stay(S.RECALLED, *_INCOMING_SYSTEM),
}

OUTGOING: Table = {
    S.NEW: {"draft": (S.DRAFT,)},
    S.DRAFT: {"submit_review": (S.REVIEW,), **_stay(S.DRAFT, "revise", "grant_access")},
    # A review either approves (the draft stays in review, ready to sign) or sends it back for edits.
    S.REVIEW: {"review": (S.REVIEW, S.DRAFT), "sign": (S.SIGNED,), **_stay(S.REVIEW, "grant_access")},
    S.SIGNED: {"issue": (S.ISSUED,), **_stay(S.SIGNED, "grant_access", "mark_issue_overdue")},
    S.ISSUED: {
        "replace": (S.REPLACED,),
        "correct": (S.CORRECTED,),
        "recall": (S.RECALLED,),
        "archive": (S.ARCHIVED,),
        **_stay(S.ISSUED, *_RECIPIENTS, "grant_access"),
    },
    S.CORRECTED: {
        "replace": (S.REPLACED,),
        "recall": (S.RECALLED,),
        "archive": (S.ARCHIVED,),
        **_stay(S.CORRECTED, "correct", *_RECIPIENTS, "grant_access"),
    },
    S.REPLACED: {"archive": (S.ARCHIVED,), **_stay(S.REPLACED, *_RECIPIENTS, "grant_access")},
    S.RECALLED: {"archive": (S.ARCHIVED,), **_stay(S.RECALLED, *_RECIPIENTS, "grant_access")},
    S.ARCHIVED: _stay(S.ARCHIVED, *_RECIPIENTS, "grant_access"),
}

TASK: Table = {
    S.NEW: {"create": (S.OPEN,)},
    S.OPEN: {"assign": (S.ASSIGNED,), "cancel": (S.CANCELLED,)},
    S.ASSIGNED: {
        # Tasks have no separate "start": the first progress report starts the work.
        "report_progress": (S.IN_PROGRESS,),
        "complete": (S.COMPLETED,),
        "cancel": (S.CANCELLED,),
        **_stay(S.ASSIGNED, "reassign", "request_extension", "decide_extension", *_CHASING),
    },
    S.IN_PROGRESS: {
        "complete": (S.COMPLETED,),
        "cancel": (S.CANCELLED,),
        **_stay(S.IN_PROGRESS, *_HANDLING, *_CHASING),
    },
    S.COMPLETED: {},
    S.CANCELLED: {},
}

# A leader may lower a secret document's level in any state after creation (the decider checks the level).
for _table in (INCOMING, OUTGOING):
    for _state, _actions in _table.items():
        if _state is not S.NEW:
            _actions["declassify"] = (_state,)
for _state, _actions in INCOMING.items():
    if _state is not S.NEW:  # a copy learns that its original was replaced, whatever it is doing
        _actions["mark_replaced"] = (_state,)

# Still being worked on: what a closing office hands over to its successor (bàn giao). It stays in its
# state, except that work assigned to the closed office's units goes back to the successor's leader to
# assign (the leader of the office that holds a document assigns it: NĐ 30 Điều 23).
OPEN_STATES: dict[DocumentKind, tuple[S, ...]] = {
    DocumentKind.INCOMING: (S.RECEIVED, S.REGISTERED, S.SUBMITTED, S.ASSIGNED, S.IN_PROGRESS),
    DocumentKind.OUTGOING: (S.DRAFT, S.REVIEW, S.SIGNED),
    DocumentKind.TASK: (S.OPEN, S.ASSIGNED, S.IN_PROGRESS),
}
_UNASSIGNED = {DocumentKind.INCOMING: S.SUBMITTED, DocumentKind.TASK: S.OPEN}
for _table, _kind in (
    (INCOMING, DocumentKind.INCOMING),
    (OUTGOING, DocumentKind.OUTGOING),
    (TASK, DocumentKind.TASK),
):
    for _state in OPEN_STATES[_kind]:
        assigned = _state in (S.ASSIGNED, S.IN_PROGRESS)  # (a retried hand-over changes nothing)
        _table[_state]["hand_over"] = (_UNASSIGNED[_kind], _state) if assigned else (_state,)

TRANSITIONS: dict[DocumentKind, Table] = {
    DocumentKind.INCOMING: INCOMING,
    DocumentKind.OUTGOING: OUTGOING,
    DocumentKind.TASK: TASK,
}


def allowed_actions(kind: DocumentKind, state: S) -> tuple[str, ...]:
    """The actions a document of `kind` accepts in `state`, sorted."""
    return tuple(sorted(TRANSITIONS[kind].get(state, {})))


def targets(kind: DocumentKind, state: S, action: str) -> tuple[S, ...]:
    """The states `action` can lead to from `state`; empty when it is not allowed."""
    return TRANSITIONS[kind].get(state, {}).get(action, ())


def render_markdown() -> str:
    """The table as markdown, one section per kind (what `schemas/TRANSITIONS.md` holds)."""
    lines = [
        "# Document life cycles",
        "",
        "Generated from `schemas/transitions.py` by `python -m schemas.export --transitions FILE`;"
        " do not edit by hand.",
        "A state listed as its own target means the action is recorded without changing the state.",
    ]
    for kind, table in TRANSITIONS.items():
        lines += ["", f"## {kind.value}", "", "| state | action | next state |", "|---|---|---|"]
        for state, actions in table.items():
            if not actions:
                lines.append(f"| `{state.value}` | — (final) | |")
            for action, nexts in sorted(actions.items()):
                shown = " or ".join(f"`{n.value}`" for n in nexts)
                lines.append(f"| `{state.value}` | `{action}` | {shown} |")
    return "\n".join(lines) + "\n"
