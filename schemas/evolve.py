"""evolve: the one function that folds stored events into a document's state.

Producers, processors and audit `as_of` all use it, so it depends only on the envelope: its payload
(read through the upcasters), its version, its time and its actor.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from schemas.enums import DocumentKind, RecipientState, State
from schemas.envelope import Envelope
from schemas.events import (
    AccessGranted,
    CopyReplaced,
    DeadLetterSettled,
    DeadlineApproached,
    DeadlineMissed,
    DocumentArchived,
    DocumentAssigned,
    DocumentCorrected,
    DocumentDeclassified,
    DocumentDelivered,
    DocumentDrafted,
    DocumentFiled,
    DocumentHandedOver,
    DocumentIssued,
    DocumentMarkedForInformation,
    DocumentReassigned,
    DocumentRecalled,
    DocumentReceived,
    DocumentRegistered,
    DocumentReplaced,
    DocumentReturned,
    DocumentSigned,
    DocumentSubmitted,
    DraftReviewed,
    DraftRevised,
    DraftSubmittedForReview,
    Event,
    ExtensionGranted,
    ExtensionRefused,
    ExtensionRequested,
    HandlingCompleted,
    HandlingStarted,
    IntakeOverdue,
    IssueOverdue,
    ProgressReported,
    RecallConfirmed,
    RecallRefused,
    RecallRequested,
    RecipientRecallAnswered,
    RecipientStatusChanged,
    SignaturesVerified,
    TaskCancelled,
    TaskCreated,
)
from schemas.state import (
    Assignment,
    Delivery,
    DocumentState,
    ExtensionRecord,
    RecallRequest,
    Registration,
    Review,
    copied,
    initial_state,
)
from schemas.upcasting import read_event


class StreamError(ValueError):
    """An envelope does not belong at this point of this document's stream."""


def evolve(state: DocumentState, envelope: Envelope) -> DocumentState:
    """The state after `envelope`, which must be the next event of this document."""
    if envelope.stream_id != state.id:
        raise StreamError(f"stream_id: {envelope.stream_id!r} is not document {state.id!r}")
    if envelope.version != state.version + 1:
        raise StreamError(f"version: expected {state.version + 1}, got {envelope.version}")
    after = _apply(state, read_event(envelope), envelope.occurred_at, envelope.actor.user)
    stamp = {"version": envelope.version, "updated_at": envelope.occurred_at}
    if after is state:  # an event that changes nothing else
        return copied(state, stamp)
    # `after` is a copy this call made and no one else holds yet: stamped in place, the event costs one
    # copy of the state instead of two (no rule reads the version or `updated_at` it replaces)
    after.__dict__.update(stamp)
    if not after.__pydantic_fields_set__.issuperset(stamp):  # replaced, not changed: copies share it
        object.__setattr__(after, "__pydantic_fields_set__", after.__pydantic_fields_set__.union(stamp))
    return after


def fold(envelopes: Iterable[Envelope], state: DocumentState | None = None) -> DocumentState:
    """Fold a document's events in order, from `state` or from the start of the stream."""
    result = state
    for envelope in envelopes:
        result = evolve(result or initial_state(envelope.stream_id), envelope)
    if result is None:
        raise StreamError("fold: no events and no starting state")
    return result


def _apply(state: DocumentState, event: Event, at: datetime, user: str) -> DocumentState:
    match event:
        case DocumentReceived():
            fields = event.model_dump(exclude={"attachments", "source"})
            return _with(
                state,
                **fields,
                attachments=event.attachments,
                source=event.source,
                **_created(DocumentKind.INCOMING, State.RECEIVED, at, user),
            )
        case DocumentDrafted():
            fields = event.model_dump(exclude={"attachments"})
            created = _created(DocumentKind.OUTGOING, State.DRAFT, at, user)
            return _with(state, **fields, attachments=event.attachments, **created)
        case TaskCreated():
            return _with(state, **event.model_dump(), **_created(DocumentKind.TASK, State.OPEN, at, user))
        case DocumentRegistered():
            return _with(
                state,
                state=State.REGISTERED,
                register_name=event.register_name,
                incoming_number=event.incoming_number,
                registered_on=event.registered_on,
                registered_in=state.office_id,
            )
        case DocumentReturned(reason=reason):
            return _with(state, state=State.RETURNED, returned_reason=reason)
        case DocumentSubmitted():
            return _with(state, state=State.SUBMITTED)
        case DocumentMarkedForInformation():
            return _with(state, state=State.FOR_INFO)
        case DocumentAssigned():
            assignment = _new_assignment(event, at, user)
            return _with(state, state=State.ASSIGNED, assignments=(*state.assignments, assignment))
        case DocumentReassigned():
            ended = _end(state, event.previous_assignment_id, at, superseded_by=event.assignment_id)
            return _with(ended, assignments=(*ended.assignments, _new_assignment(event, at, user)))
        case HandlingStarted():
            return _with(state, state=State.IN_PROGRESS, started_at=at)
        case ProgressReported():
            moved = _update(
                state, event.assignment_id, progress_percent=event.percent, progress_note=event.note
            )
            if state.kind is DocumentKind.TASK and state.state is State.ASSIGNED:
                return _with(moved, state=State.IN_PROGRESS, started_at=at)
            return moved
        case ExtensionRequested():
            request = ExtensionRecord(
                requested_due_date=event.requested_due_date,
                reason=event.reason,
                requested_at=at,
                requested_by=user,
            )
            assignment = _get(state, event.assignment_id)
            return _update(state, event.assignment_id, extensions=(*assignment.extensions, request))
        case ExtensionGranted() | ExtensionRefused():
            assignment = _get(state, event.assignment_id)
            approved = isinstance(event, ExtensionGranted)
            decided = copied(
                assignment.extensions[-1],
                {"approved": approved, "decided_at": at, "decided_by": user, "note": event.note},
            )
            update: dict[str, Any] = {"extensions": (*assignment.extensions[:-1], decided)}
            if isinstance(event, ExtensionGranted):
                # A new due date is chased afresh.
                update |= {"due_date": event.due_date, "approaching_marked": False, "missed_marked": False}
            return _update(state, event.assignment_id, **update)
        case HandlingCompleted():
            done = state
            if event.assignment_id is not None:
                done = _update(state, event.assignment_id, completed_at=at, completed_on=event.completed_on)
                done = _end(done, event.assignment_id, at)
            return _with(
                done,
                state=State.COMPLETED,
                completed_at=at,
                completion_result=event.result,
                reply_document_id=event.reply_document_id,
                reply_number_code=event.reply_number_code,
            )
        case DocumentFiled(dossier=dossier):
            return _with(state, state=State.FILED, dossier=dossier, filed_at=at)
        case DocumentRecalled(reason=reason):
            return _with(_end_open(state, at), state=State.RECALLED, closed_reason=reason)
        case TaskCancelled(reason=reason):
            return _with(_end_open(state, at), state=State.CANCELLED, closed_reason=reason)
        case DraftRevised():
            revised = _with(state, **event.model_dump(exclude={"note", "attachments"}, exclude_none=True))
            return revised if event.attachments is None else _with(revised, attachments=event.attachments)
        case DraftSubmittedForReview():
            return _with(state, state=State.REVIEW)
        case DraftReviewed(approved=approved, comments=comments):
            review = Review(approved=approved, comments=comments, by=user, at=at)
            target = State.REVIEW if approved else State.DRAFT
            return _with(state, state=target, reviews=(*state.reviews, review))
        case DocumentSigned(signed_on=signed_on):
            return _with(
                state,
                state=State.SIGNED,
                signed_by=user,
                signed_on=signed_on,
                signer_name=event.signer_name,
                signer_position=event.signer_position,
                signer_authority=event.authority,
            )
        case DocumentIssued():
            return _with(
                state,
                state=State.ISSUED,
                outgoing_number=event.outgoing_number,
                number_code=event.number_code,
                numbering=event.numbering,
                series=event.series,
                term_starts_on=event.term_starts_on,
                number_year=event.year,
                recipients=event.recipients,
                copies=event.copies,
                retained_by=event.retained_by,
                issued_on=event.issued_on,
                deliveries=_paper_deliveries(event) if event.channel == "paper" else state.deliveries,
            )
        case DocumentDelivered(office_id=office_id, document_id=document_id):
            if any(d.office_id == office_id and d.document_id is None for d in state.deliveries):
                # the paper copy sent at issue was registered by the recipient: it is linked now
                linked = tuple(
                    copied(
                        d,
                        {
                            "document_id": document_id,
                            "state": RecipientState.RECEIVED,
                            "updated_at": at,
                        },
                    )
                    if d.office_id == office_id and d.document_id is None
                    else d
                    for d in state.deliveries
                )
                return _with(state, deliveries=linked)
            delivery = Delivery(
                office_id=office_id, document_id=document_id, channel=event.channel, updated_at=at
            )
            return _with(state, deliveries=(*state.deliveries, delivery))
        case RecipientStatusChanged():
            deliveries = tuple(
                copied(d, {"state": event.state, "updated_at": at})
                if (d.office_id, d.document_id) == (event.office_id, event.document_id)
                else d
                for d in state.deliveries
            )
            return _with(state, deliveries=deliveries)
        case DocumentReplaced(replacement_id=replacement_id):
            return _with(state, state=State.REPLACED, replacement_id=replacement_id)
        case DocumentCorrected(note=note):
            return _with(state, state=State.CORRECTED, corrections=(*state.corrections, note))
        case DocumentArchived():
            return _with(state, state=State.ARCHIVED)
        case DeadlineApproached(assignment_id=assignment_id):
            return _update(state, assignment_id, approaching_marked=True)
        case DeadlineMissed(assignment_id=assignment_id):
            return _update(state, assignment_id, missed_marked=True)
        case DocumentDeclassified(secrecy=level):
            return _with(state, secrecy=level)
        case SignaturesVerified(results=results):
            checked = {r.sha256: r.signature for r in results}
            attachments = tuple(
                a.model_copy(update={"signature": checked[a.sha256]}) if a.sha256 in checked else a
                for a in state.attachments
            )
            return _with(state, attachments=attachments)
        case CopyReplaced(replacement_document_id=replacement):
            return _with(state, replaced_by=replacement)
        case IntakeOverdue():
            return _with(state, intake_overdue_marked=True)
        case IssueOverdue():
            return _with(state, issue_overdue_marked=True)
        case RecallRequested(reason=reason):
            return _with(state, recall_request=RecallRequest(reason=reason, requested_at=at))
        case RecallConfirmed() | RecallRefused():
            assert state.recall_request is not None  # the decider asks for one
            answer = "confirmed" if isinstance(event, RecallConfirmed) else "refused"
            why = event.reason if isinstance(event, RecallRefused) else ""
            answered = copied(
                state.recall_request,
                {"answer": answer, "answer_reason": why, "answered_at": at, "answered_by": user},
            )
            target = State.RECALLED if answer == "confirmed" else state.state
            return _with(state, state=target, recall_request=answered)
        case RecipientRecallAnswered():
            deliveries = tuple(
                copied(d, {"recall_answer": event.answer, "recall_reason": event.reason or None})
                if (d.office_id, d.document_id) == (event.office_id, event.document_id)
                else d
                for d in state.deliveries
            )
            return _with(state, deliveries=deliveries)
        case AccessGranted(user=granted):
            return state if granted in state.access else _with(state, access=(*state.access, granted))
        case DocumentHandedOver():
            return _handed_over(state, event, at)
        case DeadLetterSettled():
            return state  # a fact about the read models' processing, kept in the history
    raise StreamError(f"type: evolve has no rule for {type(event).__name__}")


def _handed_over(state: DocumentState, event: DocumentHandedOver, at: datetime) -> DocumentState:
    """The successor holds it: entered in its register under its own số đến (the closed office's register
    keeps the old one), and, with the closed office's assignment ended, waiting for its leader."""
    update: dict[str, Any] = {"office_id": event.to_office, "held_by": (*state.held_by, event.from_office)}
    if event.incoming_number is not None or event.assignment_ended is not None:
        update["assignments_from"] = len(state.assignments)  # what the successor assigns from now on
        # the assignments made while the closed office held it stay its own (its statistics, its units)
        update["assignments"] = tuple(
            copied(a, {"office_id": event.from_office}) if i >= state.assignments_from else a
            for i, a in enumerate(state.assignments)
        )
    if event.incoming_number is not None and state.incoming_number is not None:
        kept = Registration(
            office_id=state.registered_in or event.from_office,
            register_name=state.register_name or "",
            incoming_number=state.incoming_number,
            registered_on=state.registered_on or event.closed_on,
            received_on=register_received_on(state),
            assignments=(state.assignments_from, len(state.assignments)),
            handed_to=event.to_office,
            handed_on=event.closed_on,
        )
        update |= {
            "former_registrations": (*state.former_registrations, kept),
            "incoming_number": event.incoming_number,
            "register_name": event.register_name or state.register_name,
            "registered_on": event.registered_on,
            "registered_in": event.to_office,
        }
    moved = _with(state, **update)
    if event.assignment_ended is None:
        return moved
    waiting = State.OPEN if state.kind is DocumentKind.TASK else State.SUBMITTED
    return _with(_end(moved, event.assignment_ended, at), state=waiting)


def register_received_on(state: DocumentState) -> date | None:
    """Ngày đến in the register that holds the document's current số đến: the day it was received, or,
    for a document a closed office handed over, the day the successor registered it."""
    if state.former_registrations:
        return state.registered_on
    return state.received_on or state.registered_on


def _with(document: DocumentState, /, **update: Any) -> DocumentState:
    return copied(document, update)


def _created(kind: DocumentKind, target: State, at: datetime, user: str) -> dict[str, Any]:
    return {"kind": kind, "state": target, "created_at": at, "created_by": user}


def _new_assignment(event: DocumentAssigned | DocumentReassigned, at: datetime, user: str) -> Assignment:
    return Assignment(
        id=event.assignment_id,
        lead=event.lead,
        cooperating=event.cooperating,
        directive=event.directive,
        due_date=event.due_date,
        assigned_at=at,
        assigned_by=user,
    )


def _paper_deliveries(event: DocumentIssued) -> tuple[Delivery, ...]:
    """Issuing on paper records one delivery per recipient, with no copy until it is registered there."""
    return tuple(
        Delivery(office_id=o, document_id=None, channel="paper", state=None, sent_on=event.issued_on)
        for o in event.recipients
    )


def _get(state: DocumentState, assignment_id: str) -> Assignment:
    assignment = state.assignment(assignment_id)
    if assignment is None:
        raise StreamError(f"assignment_id: no assignment {assignment_id!r} in document {state.id!r}")
    return assignment


def _update(state: DocumentState, assignment_id: str, **update: Any) -> DocumentState:
    _get(state, assignment_id)
    assignments = tuple(copied(a, update) if a.id == assignment_id else a for a in state.assignments)
    return _with(state, assignments=assignments)


def _end(
    state: DocumentState, assignment_id: str, at: datetime, superseded_by: str | None = None
) -> DocumentState:
    return _update(state, assignment_id, ended_at=at, superseded_by=superseded_by)


def _end_open(state: DocumentState, at: datetime) -> DocumentState:
    current = state.current_assignment
    return state if current is None else _end(state, current.id, at)
