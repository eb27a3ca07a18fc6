"""The state of one document, as folded from its events: what `GET /v1/documents/{id}` shows.

The same dict (`to_dict`) is what read models store and what audit `as_of` rebuilds, so every fact the
API shows lives here, and nothing depends on the clock: a deadline's status is computed when read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from schemas.enums import DocumentKind, RecipientState, Secrecy, State, Urgency
from schemas.values import Attachment, Lead, Source


class Frozen(BaseModel):
    # No extra="forbid" on purpose: a stored dict written by a newer version still loads.
    model_config = ConfigDict(frozen=True)


F = TypeVar("F", bound=Frozen)
_set = object.__setattr__


def copied(model: F, update: Mapping[str, Any]) -> F:
    """`model.model_copy(update=update)`, built as pydantic builds it for these models (no extra fields, no
    private attributes: the same `__dict__`, fields set and nothing validated) without its generic
    `copy.copy` calls: the fold copies a state at least once per event, and that was a sixth of it. The
    copy shares the model's set of fields set when `update` adds none to it (after a document's first
    events, every later copy): such a set is never changed in place, only replaced."""
    m = object.__new__(type(model))
    values = model.__dict__.copy()
    values.update(update)
    fields_set = model.__pydantic_fields_set__
    if not fields_set.issuperset(update):
        fields_set = fields_set.union(update)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_extra__", model.__pydantic_extra__)
    _set(m, "__pydantic_fields_set__", fields_set)
    _set(m, "__pydantic_private__", None)
    return m


class ExtensionRecord(Frozen):
    """A request for more time (gia hạn) and, once decided, the decision; both are kept."""

    requested_due_date: date
    reason: str
    requested_at: datetime
    requested_by: str
    approved: bool | None = None  # None while pending
    decided_at: datetime | None = None
    decided_by: str | None = None
    note: str = ""


class Assignment(Frozen):
    id: str
    lead: Lead
    cooperating: tuple[str, ...] = ()
    directive: str = ""
    due_date: date
    assigned_at: datetime
    assigned_by: str
    completed_at: datetime | None = None
    completed_on: date | None = None  # local day of completion, what on-time is judged on
    ended_at: datetime | None = None  # set when a reassignment or a closing action ends it
    superseded_by: str | None = None
    progress_percent: int = 0
    progress_note: str = ""
    approaching_marked: bool = False
    missed_marked: bool = False
    extensions: tuple[ExtensionRecord, ...] = ()
    office_id: str | None = None  # the office that made it, once a closing handed the document on

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def pending_extension(self) -> ExtensionRecord | None:
        last = self.extensions[-1] if self.extensions else None
        return last if last is not None and last.approved is None else None


class Delivery(Frozen):
    """An incoming copy of this (issued) document in a recipient office, and that copy's state; a paper
    delivery has no copy (`document_id` None) until the recipient's clerk registers it."""

    office_id: str
    document_id: str | None
    channel: str = "electronic"  # electronic | paper
    state: RecipientState | None = RecipientState.RECEIVED  # None: on paper, not yet registered there
    sent_on: date | None = None
    updated_at: datetime | None = None
    recall_answer: str | None = None  # confirmed | refused, once the recipient answered a recall
    recall_reason: str | None = None  # why it was refused


class RecallRequest(Frozen):
    """On a delivered copy: the sender's recall, and the answer once given."""

    reason: str
    requested_at: datetime
    answer: str | None = None  # confirmed | refused
    answer_reason: str = ""
    answered_at: datetime | None = None
    answered_by: str | None = None


class Registration(Frozen):
    """A số đến the document had in the register of an office that then closed and handed it over: that
    register keeps its row (DOMAIN.md: a closed office's registers stay readable)."""

    office_id: str
    register_name: str
    incoming_number: int
    registered_on: date
    received_on: date | None = None  # ngày đến in that office
    assignments: tuple[int, int] = (0, 0)  # the slice of `assignments` made while that office held it
    handed_to: str  # the successor that took it over
    handed_on: date  # the day the office closed


class Review(Frozen):
    approved: bool
    comments: str
    by: str
    at: datetime


class DocumentState(Frozen):
    id: str
    kind: DocumentKind | None = None
    office_id: str | None = None
    state: State = State.NEW
    version: int = 0
    created_at: datetime | None = None
    created_by: str | None = None
    updated_at: datetime | None = None

    # what the document is
    document_type: str | None = None  # a DocumentType code, or (incoming) the author's own words
    summary: str | None = None  # trích yếu
    urgency: Urgency | None = None
    secrecy: Secrecy | None = None
    title: str | None = None  # tasks
    description: str | None = None  # tasks

    # incoming
    issuing_body: str | None = None
    number_code: str | None = None  # số, ký hiệu: the sender's (incoming) or ours once issued (outgoing)
    document_date: date | None = None
    received_on: date | None = None  # ngày đến (None: received before it was recorded; see registers)
    attachments: tuple[Attachment, ...] = ()
    source: Source | None = None
    register_name: str | None = None
    incoming_number: int | None = None  # số đến
    registered_on: date | None = None
    returned_reason: str | None = None

    # outgoing
    reviews: tuple[Review, ...] = ()
    signed_by: str | None = None  # the user who recorded the signature
    signed_on: date | None = None
    signer_name: str | None = None  # người ký
    signer_position: str | None = None
    signer_authority: str | None = None  # T/M, K/T, T/L
    outgoing_number: int | None = None  # số đi
    numbering: str | None = None  # "term" (HD 36) or "year" (documents issued before it)
    series: str | None = None
    term_starts_on: date | None = None
    copies: int | None = None  # số lượng bản
    retained_by: str | None = None  # nơi lưu
    number_year: int | None = None
    issued_on: date | None = None
    recipients: tuple[str, ...] = ()
    deliveries: tuple[Delivery, ...] = ()
    replacement_id: str | None = None
    corrections: tuple[str, ...] = ()

    # handling
    assignments: tuple[Assignment, ...] = ()
    started_at: datetime | None = None
    completed_at: datetime | None = None
    completion_result: str | None = None
    reply_document_id: str | None = None
    reply_number_code: str | None = None
    dossier: str | None = None  # hồ sơ
    filed_at: datetime | None = None
    closed_reason: str | None = None  # why it was recalled or cancelled

    held_by: tuple[str, ...] = ()  # offices that held it before, oldest first (bàn giao when one closed)
    registered_in: str | None = None  # the office whose incoming register gave the số đến
    # the registers of offices that held it and closed, oldest first (each keeps its own row)
    former_registrations: tuple[Registration, ...] = ()
    assignments_from: int = 0  # the first assignment made while the current office held it
    access: tuple[str, ...] = ()  # users granted access to a secret document
    recall_request: RecallRequest | None = None
    linked_copy: str | None = None  # a correction notice: the copy it corrects
    link: str | None = None  # "corrects"
    replaced_by: str | None = None  # a copy whose original was replaced: the replacement's copy here
    intake_overdue_marked: bool = False  # chased for registration and hand-over
    issue_overdue_marked: bool = (
        False  # chased for issue after signing  # a copy whose sender recalled the original
    )

    @property
    def current_assignment(self) -> Assignment | None:
        """The open assignment, if any (there is at most one)."""
        for a in reversed(self.assignments):  # a loop, not next(genexpr): rows ask this for every document
            if a.is_open:
                return a
        return None

    def assignment(self, assignment_id: str) -> Assignment | None:
        return next((a for a in self.assignments if a.id == assignment_id), None)

    def delivered_attachments(self) -> tuple[Attachment, ...]:
        """What leaves the office with an electronic copy: the signed original and appendices, never drafts
        or scans, and nothing at all of a Tối mật or Tuyệt mật document."""
        if self.secrecy is not None and self.secrecy.rank >= Secrecy.TOI_MAT.rank:
            return ()
        return tuple(a for a in self.attachments if a.role is not None and a.role.delivered)

    def attachments_for(self, office_id: str | None) -> tuple[Attachment, ...]:
        """The files an office sees of this document: all of them in its own office, in an office it is
        addressed to only what was delivered."""
        return self.attachments if office_id == self.office_id else self.delivered_attachments()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DocumentState:
        return cls.model_validate(raw)


def initial_state(document_id: str) -> DocumentState:
    """The state of a stream before its first event: `DocumentState(id=document_id)`, copied from one
    built once (its defaults are all immutable), without validating every field for each new document."""
    if type(document_id) is not str:
        return DocumentState(id=document_id)  # as pydantic validates (and refuses) it
    return copied(_INITIAL, {"id": document_id})


_INITIAL = DocumentState(id="")
