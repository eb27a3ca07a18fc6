"""Commands: one validated, imperative request per API action (plus the system's own actions).

Every command names its API `action` and the document kinds it applies to. Fields listed in
`server_fields` (register numbers, the office code) are filled by the write side before deciding and are
refused when a client sends them.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from schemas.enums import DocumentKind, DocumentType, RecipientState, Secrecy, Urgency
from schemas.values import (
    Attachment,
    Deadline,
    FileSignature,
    Id,
    IncomingType,
    Lead,
    Line,
    Model,
    OfficeCode,
    RegisterName,
    RequiredText,
    Source,
    Text,
)

INCOMING, OUTGOING, TASK = DocumentKind.INCOMING, DocumentKind.OUTGOING, DocumentKind.TASK


class Command(Model):
    action: ClassVar[str]
    kinds: ClassVar[frozenset[DocumentKind]]
    server_fields: ClassVar[frozenset[str]] = frozenset()
    system: ClassVar[bool] = False  # issued by processors, not by people through the API


def _unique(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must not repeat")
    return values


# --- creation -----------------------------------------------------------------------------------------


class ReceiveDocument(Command):
    """Tiếp nhận: an incoming document arrives (typed in by a clerk, or delivered by another office)."""

    action = "receive"
    kinds = frozenset({INCOMING})
    # Set by delivery only: a client could forge "sent by office X" or a link to another copy (a paper
    # copy names its sender with paper_delivery_of, which the write side checks).
    server_fields = frozenset({"source", "linked_copy", "link"})
    kind: Literal["incoming"] = "incoming"
    office_id: Id
    issuing_body: Line  # tác giả / cơ quan ban hành
    number_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    document_date: date
    received_on: date | None = None  # ngày đến; the day it is taken in when not given
    document_type: IncomingType  # as the author wrote it; a known code prints as its name
    summary: RequiredText  # trích yếu
    urgency: Urgency = Urgency.THUONG
    secrecy: Secrecy = Secrecy.THUONG
    attachments: Annotated[tuple[Attachment, ...], Field(max_length=200)] = ()
    source: Source | None = None
    # The sender's document, when this is the paper copy of a Tối mật/Tuyệt mật document issued to this
    # office; the write side checks it and turns it into `source` (schemas/delivery.py).
    paper_delivery_of: Id | None = None
    # Set only by delivery: a correction notice arriving for an earlier copy (the copy's id).
    linked_copy: Id | None = None
    link: Literal["corrects"] | None = None


class DraftDocument(Command):
    action = "draft"
    kinds = frozenset({OUTGOING})
    kind: Literal["outgoing"] = "outgoing"
    office_id: Id
    document_type: DocumentType
    summary: RequiredText
    urgency: Urgency = Urgency.THUONG
    secrecy: Secrecy = Secrecy.THUONG
    attachments: Annotated[tuple[Attachment, ...], Field(max_length=200)] = ()


class CreateTask(Command):
    action = "create"
    kinds = frozenset({TASK})
    kind: Literal["task"] = "task"
    office_id: Id
    title: Line
    description: Text = ""


# --- incoming ------------------------------------------------------------------------------------------


class RegisterDocument(Command):
    """Đăng ký: give the document its số đến in a register; the number comes from the write side."""

    action = "register"
    kinds = frozenset({INCOMING})
    server_fields = frozenset({"incoming_number"})
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)
    # "register" on the wire; the attribute is renamed because pydantic models already have `.register`.
    register_name: RegisterName = Field(default="chung", alias="register")
    incoming_number: Annotated[int, Field(ge=1)] | None = None  # số đến


class ReturnDocument(Command):
    """Trả lại: failed authenticity check or wrong office."""

    action = "return"
    kinds = frozenset({INCOMING})
    reason: RequiredText


class SubmitDocument(Command):
    """Trình: put the document before the leader."""

    action = "submit"
    kinds = frozenset({INCOMING})


class _AssignmentCommand(Command):
    kinds = frozenset({INCOMING, TASK})
    lead: Lead
    cooperating: tuple[Id, ...] = ()
    directive: Text = ""  # ý kiến chỉ đạo
    deadline: Deadline

    @field_validator("cooperating")
    @classmethod
    def _cooperating_unique(cls, units: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(units, "cooperating units")


class AssignDocument(_AssignmentCommand):
    """Giao xử lý: the leader's assignment (Điều 23)."""

    action = "assign"


class ReassignDocument(_AssignmentCommand):
    """Giao lại: a new assignment replaces the open one; the old one stays in the history."""

    action = "reassign"


class StartHandling(Command):
    action = "start"
    kinds = frozenset({INCOMING})


class MarkForInformation(Command):
    """Để biết: no handling needed."""

    action = "mark_for_info"
    kinds = frozenset({INCOMING})


class ReportProgress(Command):
    action = "report_progress"
    kinds = frozenset({INCOMING, TASK})
    percent: Annotated[int, Field(ge=0, le=100)]
    note: Text = ""


class RequestExtension(Command):
    """Xin gia hạn."""

    action = "request_extension"
    kinds = frozenset({INCOMING, TASK})
    deadline: Deadline
    reason: RequiredText


class DecideExtension(Command):
    action = "decide_extension"
    kinds = frozenset({INCOMING, TASK})
    approve: bool
    note: Text = ""


class CompleteHandling(Command):
    action = "complete"
    kinds = frozenset({INCOMING, TASK})
    result: RequiredText
    reply_document_id: Id | None = None
    reply_number_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


class FileDocument(Command):
    """Lập hồ sơ."""

    action = "file"
    kinds = frozenset({INCOMING})
    dossier: Line


class RecallDocument(Command):
    """Thu hồi."""

    action = "recall"
    kinds = frozenset({INCOMING, OUTGOING})
    reason: Text = ""


# --- outgoing ------------------------------------------------------------------------------------------


class ReviseDraft(Command):
    action = "revise"
    kinds = frozenset({OUTGOING})
    document_type: DocumentType | None = None
    summary: RequiredText | None = None
    urgency: Urgency | None = None
    secrecy: Secrecy | None = None
    attachments: Annotated[tuple[Attachment, ...], Field(max_length=200)] | None = None  # the new list
    note: Text = ""

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if not self.changes():
            raise ValueError("give at least one of document_type, summary, urgency, secrecy, attachments")
        return self

    def changes(self) -> dict[str, Any]:
        fields = ("document_type", "summary", "urgency", "secrecy", "attachments")
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}


class SubmitForReview(Command):
    action = "submit_review"
    kinds = frozenset({OUTGOING})


class ReviewDraft(Command):
    action = "review"
    kinds = frozenset({OUTGOING})
    approve: bool
    comments: Text = ""

    @model_validator(mode="after")
    def _sent_back_says_why(self) -> Self:
        if not self.approve and not self.comments:
            raise ValueError("comments: required when the draft is sent back")
        return self


class SignDocument(Command):
    """Ký: the signer's name, position and authority (T/M, K/T, T/L) go in the register's "người ký"."""

    action = "sign"
    kinds = frozenset({OUTGOING})
    signer_name: Line
    signer_position: Line
    authority: Literal["T/M", "K/T", "T/L"] | None = None


class IssueDocument(Command):
    """Phát hành: number the document (số đi from the write side) and send it to the recipients."""

    action = "issue"
    kinds = frozenset({OUTGOING})
    server_fields = frozenset({"outgoing_number", "office_code", "term_starts_on"})
    recipients: Annotated[tuple[Id, ...], Field(max_length=500)] = ()  # nơi nhận: office ids
    copies: Annotated[int, Field(ge=1, le=100_000)] | None = None  # số lượng bản, as the clerk entered it
    retained_by: Line | None = None  # nơi lưu
    outgoing_number: Annotated[int, Field(ge=1)] | None = None  # số đi
    office_code: OfficeCode | None = None  # the office's abbreviation in ký hiệu, e.g. "TU"
    term_starts_on: date | None = None  # the committee term numbered in (None: the office's first)

    @field_validator("recipients")
    @classmethod
    def _recipients_unique(cls, offices: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(offices, "recipients")


class ReplaceDocument(Command):
    action = "replace"
    kinds = frozenset({OUTGOING})
    replacement_id: Id


class CorrectDocument(Command):
    """Đính chính: a form error corrected by a notice."""

    action = "correct"
    kinds = frozenset({OUTGOING})
    note: RequiredText


class ArchiveDocument(Command):
    action = "archive"
    kinds = frozenset({OUTGOING})


# --- task ----------------------------------------------------------------------------------------------


class CancelTask(Command):
    action = "cancel"
    kinds = frozenset({TASK})
    reason: RequiredText


# --- system and access ---------------------------------------------------------------------------------


class MarkDeadlineApproaching(Command):
    """Đôn đốc: the chaser noticed an assignment is due soon (once per assignment)."""

    action = "mark_deadline_approaching"
    kinds = frozenset({INCOMING, TASK})
    system = True
    assignment_id: Id


class MarkDeadlineMissed(Command):
    action = "mark_deadline_missed"
    kinds = frozenset({INCOMING, TASK})
    system = True
    assignment_id: Id


class MarkIntakeOverdue(Command):
    """Đôn đốc: an incoming document was not registered and handed over in time (once per document)."""

    action = "mark_intake_overdue"
    kinds = frozenset({INCOMING})
    system = True


class MarkIssueOverdue(Command):
    """Đôn đốc: a signed document was not issued by the next working day (once per document)."""

    action = "mark_issue_overdue"
    kinds = frozenset({OUTGOING})
    system = True


class RecordDelivery(Command):
    """On the issuing document: the recipient office's incoming copy now exists."""

    action = "record_delivery"
    kinds = frozenset({OUTGOING})
    system = True
    office_id: Id
    document_id: Id


class DeliveryRef(Model):
    office_id: Id
    document_id: Id


class RecordDeliveries(Command):
    """On the issuing document: many recipients' copies now exist (a document issued to every committee
    is recorded in one write, not one per copy)."""

    action = "record_deliveries"
    kinds = frozenset({OUTGOING})
    system = True
    deliveries: Annotated[tuple[DeliveryRef, ...], Field(min_length=1, max_length=1000)]

    @field_validator("deliveries")
    @classmethod
    def _one_per_office(cls, refs: tuple[DeliveryRef, ...]) -> tuple[DeliveryRef, ...]:
        _unique(tuple(r.office_id for r in refs), "deliveries' offices")
        return refs


class RecordRecipientStatus(Command):
    """On the issuing document: a recipient's copy changed state (receipt acknowledged, handled, …)."""

    action = "record_recipient_status"
    kinds = frozenset({OUTGOING})
    system = True
    office_id: Id
    document_id: Id
    state: RecipientState


class RecordSignatures(Command):
    """On an incoming document: the signatures of its attached files were verified (once per file)."""

    action = "record_signatures"
    kinds = frozenset({INCOMING})
    system = True
    results: Annotated[tuple[FileSignature, ...], Field(min_length=1, max_length=200)]


class MarkRecallRequested(Command):
    """On a delivered copy: its sender recalled the original (edXML 13); the copy's office answers."""

    action = "mark_recall_requested"
    kinds = frozenset({INCOMING})
    system = True
    reason: Text = ""


class MarkReplaced(Command):
    """On a delivered copy: its sender replaced the original; the replacement's copy here is named."""

    action = "mark_replaced"
    kinds = frozenset({INCOMING})
    system = True
    replacement_document_id: Id


class ConfirmRecall(Command):
    """The recipient confirms the recall of its copy (edXML 15): the copy is recalled."""

    action = "confirm_recall"
    kinds = frozenset({INCOMING})


class RefuseRecall(Command):
    """The recipient refuses the recall, saying why (edXML 16): the copy stays as it is."""

    action = "refuse_recall"
    kinds = frozenset({INCOMING})
    reason: RequiredText


class RecordRecallAnswer(Command):
    """On the issuing document: a recipient confirmed or refused the recall of its copy."""

    action = "record_recall_answer"
    kinds = frozenset({OUTGOING})
    system = True
    office_id: Id
    document_id: Id
    answer: Literal["confirmed", "refused"]
    reason: Text = ""


class GrantAccess(Command):
    """A user is granted access to a secret document."""

    action = "grant_access"
    kinds = frozenset({INCOMING, OUTGOING})
    user: Id


class Declassify(Command):
    """Giải mật / giảm độ mật: a leader cleared for the current level lowers it, on a recorded basis."""

    action = "declassify"
    kinds = frozenset({INCOMING, OUTGOING})
    secrecy: Secrecy
    basis: RequiredText  # căn cứ: the decision that lowers it


class HandOver(Command):
    """Bàn giao: the document's office closed; its first successor holds the document from now on."""

    action = "hand_over"
    kinds = frozenset({INCOMING, OUTGOING, TASK})
    system = True
    server_fields = frozenset({"incoming_number"})
    to_office: Id
    closed_on: date
    basis: Text = ""
    incoming_number: Annotated[int, Field(ge=1)] | None = None  # số đến in the successor's register


CREATION_COMMANDS: tuple[type[Command], ...] = (ReceiveDocument, DraftDocument, CreateTask)

ACTION_COMMANDS: tuple[type[Command], ...] = (
    Declassify,
    RegisterDocument,
    ReturnDocument,
    SubmitDocument,
    AssignDocument,
    ReassignDocument,
    StartHandling,
    MarkForInformation,
    ReportProgress,
    RequestExtension,
    DecideExtension,
    CompleteHandling,
    FileDocument,
    RecallDocument,
    ReviseDraft,
    SubmitForReview,
    ReviewDraft,
    SignDocument,
    IssueDocument,
    ReplaceDocument,
    CorrectDocument,
    ArchiveDocument,
    CancelTask,
    MarkDeadlineApproaching,
    MarkDeadlineMissed,
    MarkIntakeOverdue,
    MarkIssueOverdue,
    RecordDelivery,
    RecordDeliveries,
    RecordRecipientStatus,
    RecordSignatures,
    MarkRecallRequested,
    MarkReplaced,
    ConfirmRecall,
    RefuseRecall,
    RecordRecallAnswer,
    GrantAccess,
    HandOver,
)

ALL_COMMANDS: tuple[type[Command], ...] = CREATION_COMMANDS + ACTION_COMMANDS
