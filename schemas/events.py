"""Events: the facts of a document's life, past tense, each with its own schema version.

An event's payload is what goes in `Envelope.data`; its class name is `Envelope.type`. Versions only go
up: an older payload is turned into the current shape by `schemas.upcasting` when read.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Literal

from schemas.enums import DocumentType, RecipientState, Secrecy, Urgency
from schemas.values import Attachment, FileSignature, Id, Lead, Model, Source


class CalendarDay(Model):
    date: date
    name: str = ""
    basis: str | None = None  # the day's own announcement, when it differs from the year's


class Event(Model):
    type: ClassVar[str] = "Event"
    schema_version: ClassVar[int] = 1

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.type = cls.__name__

    def data(self) -> dict[str, Any]:
        """The JSON payload stored in the envelope."""
        return self.model_dump(mode="json", by_alias=True)


# --- creation -----------------------------------------------------------------------------------------


class DocumentReceived(Event):
    """An incoming document arrived (v1 was the pilot's shape: `so_ky_hieu`, `trich_yeu`, no files)."""

    schema_version = 2
    office_id: Id
    issuing_body: str
    number_code: str  # số, ký hiệu as printed by the sender
    document_date: date
    received_on: date | None = None  # ngày đến (events before it was asked for: the day they were stored)
    document_type: str  # the author's type: a DocumentType code or the author's own words
    summary: str
    urgency: Urgency
    secrecy: Secrecy
    attachments: tuple[Attachment, ...] = ()
    source: Source | None = None
    linked_copy: str | None = None  # a correction notice: the earlier copy it corrects
    link: str | None = None  # "corrects"


class DocumentDrafted(Event):
    office_id: Id
    document_type: DocumentType
    summary: str
    urgency: Urgency
    secrecy: Secrecy
    attachments: tuple[Attachment, ...] = ()


class TaskCreated(Event):
    office_id: Id
    title: str
    description: str


# --- incoming ------------------------------------------------------------------------------------------


class DocumentRegistered(Event):
    register_name: str  # the register (sổ) numbered in, e.g. "chung"
    incoming_number: int  # số đến
    year: int
    registered_on: date  # ngày đến


class DocumentReturned(Event):
    reason: str


class DocumentSubmitted(Event):
    pass


class DocumentMarkedForInformation(Event):
    pass


class DocumentAssigned(Event):
    """The leader's assignment; the deadline is stored as the date decided (v1 stored working days)."""

    schema_version = 2
    assignment_id: str
    lead: Lead
    cooperating: tuple[str, ...]
    directive: str
    due_date: date
    deadline_working_days: int | None = None  # what was asked, kept for the record


class DocumentReassigned(Event):
    assignment_id: str
    previous_assignment_id: str
    lead: Lead
    cooperating: tuple[str, ...]
    directive: str
    due_date: date
    deadline_working_days: int | None = None


class HandlingStarted(Event):
    assignment_id: str


class ProgressReported(Event):
    assignment_id: str
    percent: int
    note: str


class ExtensionRequested(Event):
    assignment_id: str
    requested_due_date: date
    reason: str


class ExtensionGranted(Event):
    assignment_id: str
    previous_due_date: date
    due_date: date
    note: str


class ExtensionRefused(Event):
    assignment_id: str
    requested_due_date: date
    note: str


class HandlingCompleted(Event):
    assignment_id: str | None
    result: str
    reply_document_id: str | None
    reply_number_code: str | None
    completed_on: date


class DocumentFiled(Event):
    dossier: str


class DocumentRecalled(Event):
    reason: str


# --- outgoing ------------------------------------------------------------------------------------------


class DraftRevised(Event):
    document_type: DocumentType | None = None
    summary: str | None = None
    urgency: Urgency | None = None
    secrecy: Secrecy | None = None
    attachments: tuple[Attachment, ...] | None = None  # the new list, when the revision changed it
    note: str = ""


class DraftSubmittedForReview(Event):
    pass


class DraftReviewed(Event):
    approved: bool
    comments: str


class DocumentSigned(Event):
    signed_on: date
    signer_name: str | None = None  # None in events from before the signer was asked for
    signer_position: str | None = None
    authority: str | None = None  # T/M, K/T, T/L


class TermSet(Event):
    """On an office's stream: the committee term (nhiệm kỳ) whose outgoing numbering starts at 01."""

    office_id: str
    starts_on: date
    label: str


class OfficeClosed(Event):
    """On an office's stream: the office closed on a day; its open documents go to the first successor."""

    office_id: str
    closed_on: date
    successors: tuple[str, ...]
    basis: str


class DocumentHandedOver(Event):
    """Bàn giao: the office that held the document closed; the successor holds it from now on.

    A registered incoming document is entered in the successor's register under a số đến of its own
    (`incoming_number`, taken by the write side like a registration's), while the closed office's register
    keeps the number it gave. An open assignment of the closed office's units ends (`assignment_ended`):
    the document waits for the successor's leader to assign it. Events written before these were recorded
    carry neither: the document kept its number and its assignment."""

    from_office: str
    to_office: str
    closed_on: date
    basis: str
    incoming_number: int | None = None  # số đến in the successor's register
    register_name: str | None = None  # the successor's series it was numbered in
    registered_on: date | None = None  # the day the successor registered it (the day it was handed over)
    assignment_ended: str | None = None  # the open assignment the hand-over ended


class CalendarPublished(Event):
    """On a year's calendar stream: the announced days off and make-up working days, with their basis."""

    year: int
    days_off: tuple[CalendarDay, ...]
    working_days: tuple[CalendarDay, ...]
    basis: str


class DocumentIssued(Event):
    """Số đi per (office, type, term) since v2; v1 numbered per year with a secret series of its own,
    and v1 events keep those numbers (`numbering` "year", `series` "thuong" or "mat")."""

    schema_version = 2
    outgoing_number: int  # số đi
    number_code: str  # ký hiệu, e.g. "123-CV/TU"
    numbering: Literal["term", "year"] = "term"
    channel: Literal["electronic", "paper"] = "electronic"  # paper: Tối mật/Tuyệt mật, no electronic copy
    series: str  # the document type's code ("term"), or "thuong"/"mat" ("year")
    term_starts_on: date | None = None  # the committee term numbered in; None: the office's first
    year: int
    recipients: tuple[str, ...]
    copies: int | None = None  # số lượng bản
    retained_by: str | None = None  # nơi lưu
    issued_on: date


class DocumentDelivered(Event):
    """On the issuing document: the recipient office's incoming copy was created (electronic), or its
    clerk registered the paper copy (paper)."""

    office_id: str
    document_id: str
    channel: Literal["electronic", "paper"] = "electronic"


class RecipientStatusChanged(Event):
    """On the issuing document: a recipient's copy reached a new state (receipt acknowledged, …)."""

    office_id: str
    document_id: str
    state: RecipientState


class DocumentReplaced(Event):
    replacement_id: str


class DocumentCorrected(Event):
    note: str


class DocumentArchived(Event):
    pass


# --- task ----------------------------------------------------------------------------------------------


class TaskCancelled(Event):
    reason: str


# --- chasing and access --------------------------------------------------------------------------------


class DeadlineApproached(Event):
    """An open assignment's due date is near; stored events older than its name say `DeadlineApproaching`."""

    assignment_id: str
    due_date: date


class DeadlineMissed(Event):
    assignment_id: str
    due_date: date


class SignaturesVerified(Event):
    """The signatures of attached files were verified against the deployment's trust roots."""

    results: tuple[FileSignature, ...]


class IntakeOverdue(Event):
    """Not registered and handed over by `due_date` (urgent: the day received)."""

    due_date: date


class IssueOverdue(Event):
    """Signed but not issued by `due_date` (the next working day after signing)."""

    due_date: date


class AccessGranted(Event):
    user: str


class DocumentDeclassified(Event):
    secrecy: Secrecy  # the new, lower level
    basis: str


# --- operations ------------------------------------------------------------------------------------------


class DeadLetterSettled(Event):
    """An operator decided what happens to a record the read models could not apply (`vanthu deadletters
    park|skip|retry`): recorded in the document's own history, changing nothing else in it."""

    action: str  # park | skip | retry
    letter: str  # topic:partition@offset
    version: int | None  # the version the record claimed (None: it could not be read)
    event_id: str | None
    reason: str
    operator: str


class RecallRequested(Event):
    """On a delivered copy: the sender recalled the original; the copy's office is to answer."""

    reason: str


class CopyReplaced(Event):
    """On a delivered copy: the sender replaced the original by another document, whose copy here is named."""

    replacement_document_id: str


class RecallConfirmed(Event):
    pass


class RecallRefused(Event):
    reason: str


class RecipientRecallAnswered(Event):
    """On the issuing document: a recipient's answer to the recall of its copy."""

    office_id: str
    document_id: str
    answer: Literal["confirmed", "refused"]
    reason: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        DocumentReceived,
        DocumentDeclassified,
        DocumentDrafted,
        TaskCreated,
        DocumentRegistered,
        DocumentReturned,
        DocumentSubmitted,
        DocumentMarkedForInformation,
        DocumentAssigned,
        DocumentReassigned,
        HandlingStarted,
        ProgressReported,
        ExtensionRequested,
        ExtensionGranted,
        ExtensionRefused,
        HandlingCompleted,
        DocumentFiled,
        DocumentRecalled,
        DraftRevised,
        DraftSubmittedForReview,
        DraftReviewed,
        DocumentSigned,
        DocumentIssued,
        DocumentDelivered,
        RecipientStatusChanged,
        DocumentReplaced,
        DocumentCorrected,
        DocumentArchived,
        TaskCancelled,
        DeadlineApproached,
        DeadlineMissed,
        SignaturesVerified,
        AccessGranted,
        DeadLetterSettled,
        IntakeOverdue,
        IssueOverdue,
        RecallRequested,
        CopyReplaced,
        RecallConfirmed,
        RecallRefused,
        RecipientRecallAnswered,
        DocumentHandedOver,
    )
}

# Events of the office and calendar streams: recorded like document events, never folded into one.
ACT_TYPES: dict[str, type[Event]] = {cls.type: cls for cls in (TermSet, CalendarPublished, OfficeClosed)}
