"""Wrapping decided events in envelopes, numbered after the state they were decided on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID, uuid4

from schemas.envelope import Actor, Envelope
from schemas.events import Event
from schemas.state import DocumentState


def record(
    events: Sequence[Event],
    state: DocumentState,
    *,
    now: datetime,
    actor: Actor,
    causation_id: UUID | None = None,
    correlation_id: UUID | None = None,
    idempotency_key: str | None = None,
    event_ids: Sequence[UUID] | None = None,
) -> list[Envelope]:
    """Envelopes for `events`, versions following `state.version`; ids are random unless given."""
    ids = list(event_ids) if event_ids is not None else [uuid4() for _ in events]
    if len(ids) != len(events):
        raise ValueError("event_ids: need one id per event")
    return [
        Envelope(
            event_id=event_id,
            stream_id=state.id,
            version=state.version + offset,
            type=event.type,
            schema_version=event.schema_version,
            occurred_at=now,
            actor=actor,
            data=event.data(),
            causation_id=causation_id,
            correlation_id=correlation_id,
            idempotency_key=idempotency_key,
        )
        for offset, (event_id, event) in enumerate(zip(ids, events, strict=True), start=1)
    ]
