"""Facts about a document's processing appended to its stream as they are, without deciding: an
operator's word on a dead letter is history, whatever state the document is in (even one whose stored
events the current code cannot fold)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import asyncpg

from deploy.config.db import Conn
from producers import store
from schemas.envelope import Actor, Envelope
from schemas.events import Event

_ATTEMPTS = 20


async def append_fact(conn: Conn, document_id: str, event: Event, actor: Actor) -> store.Appended | None:
    """Append `event` as the document's next version (None: the store has no such document)."""
    for _ in range(_ATTEMPTS):
        try:
            async with conn.transaction():
                last = await conn.fetchrow(
                    "SELECT version, hash, occurred_at FROM events WHERE stream_id = $1 "
                    "ORDER BY version DESC LIMIT 1",
                    document_id,
                )
                if last is None:
                    return None
                envelope = Envelope(
                    event_id=uuid4(),
                    stream_id=document_id,
                    version=last["version"] + 1,
                    type=event.type,
                    schema_version=event.schema_version,
                    occurred_at=max(datetime.now(UTC), last["occurred_at"]),
                    actor=actor,
                    data=event.data(),
                )
                [appended] = await store.append(conn, [envelope], bytes(last["hash"]))
                return appended
        except asyncpg.UniqueViolationError:
            continue  # another writer took the version: read the new last event and try again
    raise RuntimeError(f"document {document_id}: gave up appending after {_ATTEMPTS} lost races")
