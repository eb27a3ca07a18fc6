"""Which side effects an applied event owes: the delivery saga's tasks, and the live feed's notifications."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from processors.records import Record
from processors.rows import offices_of
from schemas.enums import DocumentKind, RecipientState
from schemas.envelope import Envelope
from schemas.state import DocumentState

FEED_CHANNEL = "vanthu_feed"
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


def notifications(after: DocumentState, envelope: Envelope, record: Record) -> list[dict[str, Any]]:
    """One feed entry per office that sees the document (its own and those it is addressed to)."""
    position = record.header("position")
    return [
        {
            "office_id": office,
            "document_id": after.id,
            "version": envelope.version,
            "type": envelope.type,
            "state": after.state.value,
            "secrecy": after.secrecy.value if after.secrecy is not None else None,
            "position": int(position) if position and position.isdigit() else None,
            "partition": record.partition,
            "offset": record.offset,
        }
        for office in offices_of(after)
    ]
