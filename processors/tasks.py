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


@dataclass(frozen=True, slots=True)
class Task:
    key: str  # one task per fact: the unique key makes enqueueing idempotent
    kind: str
    payload: dict[str, Any]


def saga_tasks(before: DocumentState, after: DocumentState, envelope: Envelope) -> list[Task]:
    """Deliver an issued document to each recipient; report a delivered copy's new state to its sender."""
    tasks: list[Task] = []
    if envelope.type == "DocumentIssued":
        for office in after.recipients:
            tasks.append(
                Task(
                    f"deliver:{after.id}:{office}",
                    "deliver",
                    {"source_document_id": after.id, "office_id": office},
                )
            )
    if after.kind in (DocumentKind.INCOMING, DocumentKind.OUTGOING):
        tasks += file_tasks(before, after)
    source = after.source
    # A new copy is recorded as received by the delivery itself; report only later changes of state.
    changed = before.version > 0 and before.state is not after.state
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
                    "office_id": after.office_id,
                    "state": after.state.value,
                    "version": after.version,
                },
            )
        )
    return tasks


def file_tasks(before: DocumentState, after: DocumentState) -> list[Task]:
    """Each newly attached file is read once per document: its text indexed, and, on an incoming document,
    its signatures verified (NĐ 30: on receipt)."""
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
