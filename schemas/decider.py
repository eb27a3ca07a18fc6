"""The decider: `decide(command, state, now) -> events`, checked against the transition table.

Roles are the API's business; the decider checks that the document's state allows the action and that
the facts the action needs (a register number, a pending extension, a recipient) are there. Time comes
in as `now`; a deadline in working days becomes a date here, once, and that date is what is stored.
"""

from __future__ import annotations

from datetime import date, datetime

from schemas.calendar import Calendar, default_calendar
from schemas.commands import (
    ArchiveDocument,
    AssignDocument,
    CancelTask,
    Command,
    CompleteHandling,
    ConfirmRecall,
    CorrectDocument,
    CreateTask,
    DecideExtension,
    Declassify,
    DraftDocument,
    FileDocument,
    GrantAccess,
    HandOver,
    IssueDocument,
    MarkDeadlineApproaching,
    MarkDeadlineMissed,
    MarkForInformation,
    MarkIntakeOverdue,
    MarkIssueOverdue,
    MarkRecallRequested,
    MarkReplaced,
    ReassignDocument,
    RecallDocument,
    ReceiveDocument,
    RecordDeliveries,
    RecordDelivery,
    RecordRecallAnswer,
    RecordRecipientStatus,
    RecordSignatures,
    RefuseRecall,
    RegisterDocument,
    ReplaceDocument,
    ReportProgress,
    RequestExtension,
    ReturnDocument,
    ReviewDraft,
    ReviseDraft,
    SignDocument,
    StartHandling,
    SubmitDocument,
    SubmitForReview,
)
from schemas.deadlines import intake_due, intake_late, issue_due, local_date
from schemas.enums import DocumentKind, Secrecy, Urgency
from schemas.events import (
    AccessGranted,
    CopyReplaced,
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
from schemas.numbering import incoming_series, number_code, outgoing_series
from schemas.state import Assignment, DocumentState
from schemas.transitions import allowed_actions
from schemas.values import Deadline


class DomainError(Exception):
    """A command refused by the rules; names the document's state and what it does accept."""

    def __init__(self, reason: str, state: DocumentState, kind: DocumentKind | None = None) -> None:
        self.reason = reason
        self.state = state.state
        self.kind = state.kind or kind
        self.allowed = allowed_actions(self.kind, state.state) if self.kind else ()
        shown = ", ".join(self.allowed) or "none"
        super().__init__(f"{reason} (the document is {self.state.value}; allowed here: {shown})")


def decide(
    command: Command, state: DocumentState, now: datetime, calendar: Calendar | None = None
) -> list[Event]:
    """The events that `command` causes on a document in `state` at instant `now`."""
    kind = state.kind or next(iter(command.kinds))
    if kind not in command.kinds:
        raise DomainError(f"{command.action}: not an action on {kind.value} documents", state)
    if command.action not in allowed_actions(kind, state.state):
        raise DomainError(f"{command.action}: not allowed", state, kind)
    return _decide(command, state, local_date(now), calendar or default_calendar())


def _decide(command: Command, state: DocumentState, today: date, calendar: Calendar) -> list[Event]:
    match command:
        case ReceiveDocument():
            received_on = command.received_on or today
            if received_on > today:
                raise DomainError(f"received_on: {received_on} is in the future (today is {today})", state)
            if command.paper_delivery_of is not None and command.source is None:
                raise DomainError("paper_delivery_of: the sender's document was not checked", state)
            fields = command.model_dump(exclude={"kind", "received_on", "paper_delivery_of"})
            return [DocumentReceived(**fields, received_on=received_on)]
        case DraftDocument():
            return [DocumentDrafted(**command.model_dump(exclude={"kind"}))]
        case CreateTask():
            return [TaskCreated(**command.model_dump(exclude={"kind"}))]
        case RegisterDocument(incoming_number=None) | IssueDocument(outgoing_number=None):
            raise DomainError(f"{command.action}: the register number was not assigned", state)
        case RegisterDocument(incoming_number=int(number)):
            series = incoming_series(command.register_name, state.secrecy)
            return [
                DocumentRegistered(
                    register_name=series, incoming_number=number, year=today.year, registered_on=today
                )
            ]
        case ReturnDocument(reason=reason):
            return [DocumentReturned(reason=reason)]
        case SubmitDocument():
            return [DocumentSubmitted()]
        case MarkForInformation():
            return [DocumentMarkedForInformation()]
        case AssignDocument():
            return [
                DocumentAssigned(
                    assignment_id=_next_assignment_id(state),
                    lead=command.lead,
                    cooperating=command.cooperating,
                    directive=command.directive,
                    due_date=_due_date(command.deadline, today, calendar, state),
                    deadline_working_days=command.deadline.working_days,
                )
            ]
        case ReassignDocument():
            return [
                DocumentReassigned(
                    assignment_id=_next_assignment_id(state),
                    previous_assignment_id=_current(state).id,
                    lead=command.lead,
                    cooperating=command.cooperating,
                    directive=command.directive,
                    due_date=_due_date(command.deadline, today, calendar, state),
                    deadline_working_days=command.deadline.working_days,
                )
            ]
        case StartHandling():
            return [HandlingStarted(assignment_id=_current(state).id)]
        case ReportProgress(percent=percent, note=note):
            return [ProgressReported(assignment_id=_current(state).id, percent=percent, note=note)]
        case RequestExtension():
            return [_request_extension(command, state, today, calendar)]
        case DecideExtension():
            return [_decide_extension(command, state)]
        case CompleteHandling():
            current = state.current_assignment
            return [
                HandlingCompleted(
                    assignment_id=None if current is None else current.id,
                    result=command.result,
                    reply_document_id=command.reply_document_id,
                    reply_number_code=command.reply_number_code,
                    completed_on=today,
                )
            ]
        case FileDocument(dossier=dossier):
            return [DocumentFiled(dossier=dossier)]
        case RecallDocument(reason=reason):
            return [DocumentRecalled(reason=reason)]
        case ReviseDraft(secrecy=secrecy):
            if secrecy is not None and secrecy.rank < Secrecy.rank_of(_level(state)):
                raise DomainError(
                    f"revise: never lowers secrecy ({_level(state)} to {secrecy.value}); "
                    "a leader declassifies",
                    state,
                )
            return [DraftRevised(**command.changes(), note=command.note)]
        case Declassify(secrecy=secrecy, basis=basis):
            if secrecy.rank >= Secrecy.rank_of(_level(state)):
                raise DomainError(
                    f"declassify: {secrecy.value} is not below the document's level {_level(state)}", state
                )
            return [DocumentDeclassified(secrecy=secrecy, basis=basis)]
        case SubmitForReview():
            return [DraftSubmittedForReview()]
        case ReviewDraft(approve=approve, comments=comments):
            return [DraftReviewed(approved=approve, comments=comments)]
        case SignDocument():
            if not state.reviews or not state.reviews[-1].approved:
                raise DomainError("sign: the draft needs an approved review first", state)
            return [
                DocumentSigned(
                    signed_on=today,
                    signer_name=command.signer_name,
                    signer_position=command.signer_position,
                    authority=command.authority,
                )
            ]
        case IssueDocument():
            return [_issue(command, state, today)]
        case ReplaceDocument(replacement_id=replacement_id):
            if replacement_id == state.id:
                raise DomainError("replace: a document cannot replace itself", state)
            return [DocumentReplaced(replacement_id=replacement_id)]
        case CorrectDocument(note=note):
            return [DocumentCorrected(note=note)]
        case ArchiveDocument():
            return [DocumentArchived()]
        case CancelTask(reason=reason):
            return [TaskCancelled(reason=reason)]
        case MarkDeadlineApproaching(assignment_id=assignment_id):
            assignment = _assignment(state, assignment_id)
            if not assignment.is_open or assignment.approaching_marked:
                return []  # chasing is idempotent per assignment and due date
            return [DeadlineApproached(assignment_id=assignment_id, due_date=assignment.due_date)]
        case MarkDeadlineMissed(assignment_id=assignment_id):
            assignment = _assignment(state, assignment_id)
            if not assignment.is_open or assignment.missed_marked or today <= assignment.due_date:
                return []  # already marked, or an extension moved the date since the chaser looked
            return [DeadlineMissed(assignment_id=assignment_id, due_date=assignment.due_date)]
        case RecordDeliveries(deliveries=refs):
            return [
                event
                for ref in refs
                for event in _record_delivery(
                    RecordDelivery(office_id=ref.office_id, document_id=ref.document_id), state
                )
            ]
        case RecordDelivery():
            return _record_delivery(command, state)
        case RecordRecipientStatus():
            return _record_recipient_status(command, state)
        case RecordSignatures(results=results):
            recorded = {a.sha256: a.signature for a in state.attachments}
            # once per file and outcome: the verifier may run again after a crash
            fresh = tuple(r for r in results if r.sha256 in recorded and recorded[r.sha256] != r.signature)
            return [SignaturesVerified(results=fresh)] if fresh else []
        case MarkReplaced(replacement_document_id=replacement):
            return (
                []
                if state.replaced_by == replacement
                else [CopyReplaced(replacement_document_id=replacement)]
            )
        case MarkIntakeOverdue():
            received = state.received_on or (local_date(state.created_at) if state.created_at else today)
            urgent = state.urgency is not None and state.urgency is not Urgency.THUONG
            if state.intake_overdue_marked or not intake_late(received, urgent, today, calendar):
                return []  # already chased, or not late (yet)
            return [IntakeOverdue(due_date=intake_due(received, urgent, calendar))]
        case MarkIssueOverdue():
            if (
                state.issue_overdue_marked
                or state.signed_on is None
                or today <= issue_due(state.signed_on, calendar)
            ):
                return []
            return [IssueOverdue(due_date=issue_due(state.signed_on, calendar))]
        case MarkRecallRequested(reason=reason):
            if state.recall_request is not None:
                return []  # the saga asked again: already recorded
            return [RecallRequested(reason=reason)]
        case ConfirmRecall() | RefuseRecall():
            if state.recall_request is None or state.recall_request.answer is not None:
                raise DomainError(
                    f"{command.action}: the sender has recalled nothing awaiting an answer", state
                )
            return (
                [RecallConfirmed()]
                if isinstance(command, ConfirmRecall)
                else [RecallRefused(reason=command.reason)]
            )
        case RecordRecallAnswer():
            if not any(
                (d.office_id, d.document_id) == (command.office_id, command.document_id)
                for d in state.deliveries
            ):
                raise DomainError(f"record_recall_answer: no delivery of copy {command.document_id!r}", state)
            for d in state.deliveries:
                if (d.office_id, d.document_id) == (
                    command.office_id,
                    command.document_id,
                ) and d.recall_answer:
                    return []
            return [
                RecipientRecallAnswered(
                    office_id=command.office_id,
                    document_id=command.document_id,
                    answer=command.answer,
                    reason=command.reason,
                )
            ]
        case GrantAccess(user=user):
            if state.secrecy is None or not state.secrecy.is_secret:
                raise DomainError("grant_access: only secret documents need access grants", state)
            return [] if user in state.access else [AccessGranted(user=user)]
        case HandOver(to_office=successor):
            if state.office_id is None or successor == state.office_id:
                return []  # handed over already (a retried closing or delivery)
            registered = state.kind is DocumentKind.INCOMING and state.incoming_number is not None
            if registered and command.incoming_number is None:
                raise DomainError("hand_over: the successor's register number was not assigned", state)
            current = state.current_assignment
            return [
                DocumentHandedOver(
                    from_office=state.office_id,
                    to_office=successor,
                    closed_on=command.closed_on,
                    basis=command.basis,
                    incoming_number=command.incoming_number if registered else None,
                    register_name=state.register_name if registered else None,
                    registered_on=today if registered else None,
                    assignment_ended=None if current is None else current.id,
                )
            ]
    raise DomainError(f"{command.action}: no rule decides this command", state)


def _level(state: DocumentState) -> str:
    return "thuong" if state.secrecy is None else state.secrecy.value


def _next_assignment_id(state: DocumentState) -> str:
    # Deterministic, so replaying the same commands gives the same ids.
    return f"A{len(state.assignments) + 1}"


def _current(state: DocumentState) -> Assignment:
    current = state.current_assignment
    if current is None:
        raise DomainError("there is no open assignment", state)
    return current


def _assignment(state: DocumentState, assignment_id: str) -> Assignment:
    assignment = state.assignment(assignment_id)
    if assignment is None:
        raise DomainError(f"assignment_id: no assignment {assignment_id!r} on this document", state)
    return assignment


def _due_date(deadline: Deadline, today: date, calendar: Calendar, state: DocumentState) -> date:
    if deadline.working_days is not None:
        return calendar.add_working_days(today, deadline.working_days)
    assert deadline.date is not None  # Deadline validates that exactly one is given
    if deadline.date < today:
        raise DomainError(f"deadline: {deadline.date} is already past (today is {today})", state)
    return deadline.date


def _request_extension(
    command: RequestExtension, state: DocumentState, today: date, calendar: Calendar
) -> ExtensionRequested:
    current = _current(state)
    if current.pending_extension is not None:
        raise DomainError("request_extension: a request is already waiting for a decision", state)
    requested = _due_date(command.deadline, today, calendar, state)
    if requested <= current.due_date:
        raise DomainError(f"deadline: must be later than the current due date {current.due_date}", state)
    return ExtensionRequested(assignment_id=current.id, requested_due_date=requested, reason=command.reason)


def _decide_extension(command: DecideExtension, state: DocumentState) -> Event:
    current = _current(state)
    pending = current.pending_extension
    if pending is None:
        raise DomainError("decide_extension: no extension request is waiting", state)
    if command.approve:
        return ExtensionGranted(
            assignment_id=current.id,
            previous_due_date=current.due_date,
            due_date=pending.requested_due_date,
            note=command.note,
        )
    return ExtensionRefused(
        assignment_id=current.id, requested_due_date=pending.requested_due_date, note=command.note
    )


def _issue(command: IssueDocument, state: DocumentState, today: date) -> DocumentIssued:
    if command.office_code is None or state.document_type is None or command.outgoing_number is None:
        raise DomainError("issue: the office code for ký hiệu was not given", state)
    return DocumentIssued(
        outgoing_number=command.outgoing_number,
        number_code=number_code(command.outgoing_number, state.document_type, command.office_code),
        numbering="term",
        series=outgoing_series(state.document_type),
        term_starts_on=command.term_starts_on,
        year=today.year,
        recipients=command.recipients,
        channel="paper" if state.secrecy is not None and state.secrecy.travels_on_paper else "electronic",
        copies=command.copies,
        retained_by=command.retained_by,
        issued_on=today,
    )


def _record_delivery(command: RecordDelivery, state: DocumentState) -> list[Event]:
    if command.office_id not in state.recipients:
        raise DomainError(f"record_delivery: office {command.office_id!r} is not a recipient", state)
    for delivery in state.deliveries:
        if delivery.office_id == command.office_id:
            if delivery.document_id == command.document_id:
                return []  # the saga redelivered: already recorded
            if delivery.document_id is None:  # the paper copy was registered by the recipient
                return [
                    DocumentDelivered(
                        office_id=command.office_id, document_id=command.document_id, channel="paper"
                    )
                ]
            raise DomainError(
                f"record_delivery: office {command.office_id!r} already has copy {delivery.document_id!r}",
                state,
            )
    return [DocumentDelivered(office_id=command.office_id, document_id=command.document_id)]


def _record_recipient_status(command: RecordRecipientStatus, state: DocumentState) -> list[Event]:
    for delivery in state.deliveries:
        if (delivery.office_id, delivery.document_id) == (command.office_id, command.document_id):
            if delivery.state is command.state:
                return []
            return [
                RecipientStatusChanged(
                    office_id=command.office_id, document_id=command.document_id, state=command.state
                )
            ]
    raise DomainError(
        f"record_recipient_status: no delivery of copy {command.document_id!r} to {command.office_id!r}",
        state,
    )
