"""The delivery saga's tasks an applied event owes, queued in the transaction that applied it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deploy.config.db import Conn
from schemas.enums import DocumentKind, RecipientState
from schemas.envelope import Envelope
from schemas.state import DocumentState

_RECIPIENT_STATES = {s.value for s in RecipientState}
_ANSWERS = {"RecallConfirmed", "RecallRefused"}


@dataclass(frozen=True, slots=True)
class Task:
    key: str  # one task per fact: the unique key makes enqueueing idempotent
    kind: str
    payload: dict[str, Any]


def saga_tasks(before: DocumentState, after: DocumentState, envelope: Envelope) -> list[Task]:
    """Deliver an issued document to each recipient; report a delivered copy's new state to its sender."""
    tasks: list[Task] = []
    if envelope.type == "DocumentIssued":
        paper = {d.office_id for d in after.deliveries if d.channel == "paper"}
        for office in after.recipients:
            if office in paper:
                continue  # Tối mật/Tuyệt mật: sent on paper, no copy is created there
            tasks.append(
                Task(
                    f"deliver:{after.id}:{office}",
                    "deliver",
                    {"source_document_id": after.id, "office_id": office},
                )
            )
    if after.kind in (DocumentKind.INCOMING, DocumentKind.OUTGOING):
        tasks += file_tasks(before, after)
    if envelope.type == "DocumentRecalled" and after.kind is DocumentKind.OUTGOING:
        # Recall reaches the recipients: each existing copy learns of it and is to answer.
        for d in after.deliveries:
            if d.document_id is not None:
                payload = {
                    "copy_document_id": d.document_id,
                    "office_id": d.office_id,
                    "reason": after.closed_reason or "",
                }
                tasks.append(Task(f"recall:{after.id}:{d.office_id}", "recall_copy", payload))
    if envelope.type in ("DocumentCorrected", "DocumentReplaced") and after.kind is DocumentKind.OUTGOING:
        # A correction arrives at each copy's office as a new notice linked to the copy; a replacement's
        # copy there is named on the old copy.
        for d in after.deliveries:
            if d.document_id is None:
                continue
            base = {
                "source_document_id": after.id,
                "office_id": d.office_id,
                "copy_document_id": d.document_id,
            }
            if envelope.type == "DocumentCorrected":
                note = after.corrections[-1] if after.corrections else ""
                notice: dict[str, Any] = {**base, "note": note, "version": envelope.version}
                tasks.append(
                    Task(f"correction:{after.id}:{d.office_id}:{envelope.version}", "correction", notice)
                )
            elif after.replacement_id is not None:
                named = {**base, "replacement_id": after.replacement_id}
                tasks.append(Task(f"replaced:{after.id}:{d.office_id}", "replaced", named))
    source = after.source
    request = after.recall_request
    if (
        source is not None
        and request is not None
        and request.answer is not None
        and envelope.type in _ANSWERS
    ):
        answer: dict[str, Any] = {
            "source_document_id": source.document_id,
            "source_office_id": source.office_id,
            "copy_document_id": after.id,
            "office_id": addressed_to(after),
            "answer": request.answer,
            "reason": request.answer_reason,
        }
        tasks.append(Task(f"recall_answer:{after.id}", "recall_answer", answer))
    # A new copy is recorded as received by the delivery itself; report only later changes of state.
    # A paper copy is linked to its sender by the saga when it is received (its clerk registered it).
    linked = before.version == 0 and source is not None and source.channel == "paper"
    changed = linked or (before.version > 0 and before.state is not after.state)
    if (
        source is not None
        and after.kind is DocumentKind.INCOMING
        and changed
        and after.state.value in _RECIPIENT_STATES
    ):
        tasks.append(
            Task(
                f"recipient_status:{after.id}:{after.version}",
                "recipient_status",
                {
                    "source_document_id": source.document_id,
                    "source_office_id": source.office_id,
                    "copy_document_id": after.id,
                    "office_id": addressed_to(after),
                    "state": after.state.value,
                    "version": after.version,
                },
            )
        )
    return tasks


def addressed_to(copy: DocumentState) -> str | None:
    """The office a delivered copy was addressed to (its sender's delivery names it), even after that
    office closed and handed the copy over to its successor."""
    return copy.held_by[0] if copy.held_by else copy.office_id


def file_tasks(before: DocumentState, after: DocumentState) -> list[Task]:
    """Each newly attached file is read once per document: its text indexed, and, on an incoming document,
    its signatures verified (NĐ 30: on receipt)."""
    if after.attachments is before.attachments:  # the fold keeps the very tuple when no file changed
        return []
    had = {a.sha256 for a in before.attachments}
    return [
        Task(
            f"file:{after.id}:{a.sha256}",
            "file",
            {
                "document_id": after.id,
                "office_id": after.office_id,
                "sha256": a.sha256,
                "media_type": a.media_type,
                "verify": after.kind is DocumentKind.INCOMING,
            },
        )
        for a in after.attachments
        if a.sha256 not in had
    ]


async def write_tasks(conn: Conn, tasks: Sequence[Task]) -> None:
    """Queue the tasks for the saga runner (a task already queued for the same fact is not queued twice)."""
    if tasks:
        await conn.executemany(
            """INSERT INTO public.processor_tasks (key, kind, payload) VALUES ($1, $2, $3)
               ON CONFLICT (key) DO NOTHING""",
            [(t.key, t.kind, t.payload) for t in tasks],
        )
