"""`handle`: the one command handler. Load ▸ number ▸ decide ▸ append, in one Postgres transaction."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from deploy.config.db import Conn
from deploy.config.offices import Offices
from producers import store
from producers.acts import current_term, load_calendar
from producers.closures import guard_creation, refuse_closed
from producers.errors import DocumentNotFound, IdempotencyKeyReused, VersionConflict
from producers.numbering import take_number
from schemas.commands import (
    CREATION_COMMANDS,
    AssignDocument,
    Command,
    CreateTask,
    DraftDocument,
    IssueDocument,
    MarkIntakeOverdue,
    MarkIssueOverdue,
    ReassignDocument,
    ReceiveDocument,
    RequestExtension,
)
from schemas.deadlines import local_date
from schemas.decider import decide
from schemas.delivery import link_paper_copy
from schemas.envelope import Actor, Envelope, canonical_json
from schemas.evolve import fold
from schemas.numbering import numbering_needed, with_number
from schemas.recording import record
from schemas.state import DocumentState

MAX_ATTEMPTS = 50  # retries after losing a race for the next version (to the system, or any writer with None)
_VERSION_TAKEN = "events_stream_id_version_key"
_COUNTS_DAYS = (AssignDocument, ReassignDocument, RequestExtension, MarkIntakeOverdue, MarkIssueOverdue)


@dataclass(frozen=True)
class HandleResult:
    state: DocumentState  # the document after the write
    events: list[Envelope]  # what was appended; empty on an idempotent replay
    position: int  # global position of the last event of this write (the API's consistency token)
    warnings: list[str] = field(default_factory=list)
    replayed: bool = False
    # ids of the earlier documents a duplicate warning is about: the caller names those it may see only
    duplicates: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HandleRequest:
    """One command on one document, as a person or the system asks for it."""

    command: Command
    document_id: str
    expected_version: int | None  # None takes whatever the current version is (system commands)
    actor: Actor
    idempotency_key: str | None = None
    now: datetime | None = None  # the decision's clock; the current time when not given
    causation_id: UUID | None = None
    correlation_id: UUID | None = None


async def handle(
    pool_or_conn: asyncpg.Pool[Any] | Conn, request: HandleRequest, offices: Offices
) -> HandleResult:
    """Decide the request's command on its document and append its events, or refuse.

    Raises VersionConflict, IdempotencyKeyReused, DocumentNotFound, UnknownOffice, or the decider's
    DomainError. A stale expected version is accepted when only the system appended since (no person
    acted meanwhile). `offices` gives the author code written into an outgoing document's ký hiệu.
    """
    if request.now is None:
        request = replace(request, now=datetime.now(UTC))
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            return await _handle(conn, request, offices)
    return await _handle(pool_or_conn, request, offices)


async def _handle(conn: Conn, a: HandleRequest, offices: Offices) -> HandleResult:
    for _ in range(MAX_ATTEMPTS):
        try:
            async with conn.transaction():
                return await _attempt(conn, a, offices)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != _VERSION_TAKEN:
                raise
        # Another writer appended this version first and has committed by now: the next attempt sees
        # its event, and refuses with VersionConflict unless only the system acted meanwhile.
    raise RuntimeError(f"document {a.document_id}: gave up after {MAX_ATTEMPTS} lost races")


async def _attempt(conn: Conn, a: HandleRequest, offices: Offices) -> HandleResult:
    assert a.now is not None  # handle() fills it in
    request_hash = _request_hash(a)
    if a.idempotency_key is not None:
        replay = await _replay(conn, a.idempotency_key, request_hash)
        if replay is not None:
            return replay

    loaded = await store.load(conn, a.document_id)
    state = loaded.state
    if state.updated_at is not None and state.updated_at > a.now:
        # This host's clock is behind the one that wrote the previous event: time never runs backwards
        # within a document, so the event takes the previous one's time.
        a = replace(a, now=state.updated_at)
    assert a.now is not None
    if a.expected_version is not None and state.version != a.expected_version:
        if state.version == 0:
            raise DocumentNotFound(a.document_id)
        if not await _only_system_since(conn, a.document_id, a.expected_version, state.version):
            raise VersionConflict(a.document_id, a.expected_version, state)
    if state.version == 0 and not isinstance(a.command, CREATION_COMMANDS):
        raise DocumentNotFound(a.document_id)

    command, warnings, duplicates = a.command, [], []
    if isinstance(command, (ReceiveDocument, DraftDocument, CreateTask)):
        delivered = isinstance(command, ReceiveDocument) and command.source is not None
        await guard_creation(conn, command.office_id, delivered)
    elif isinstance(command, IssueDocument):
        await refuse_closed(conn, command.recipients)  # naming the successor to address instead
    term = None
    if isinstance(command, IssueDocument) and state.office_id is not None:
        term = await current_term(conn, state.office_id, local_date(a.now))
    needed = numbering_needed(command, state, a.now, term)
    if needed is not None:
        number = await take_number(conn, needed)
        code = offices.code(needed.office_id) if isinstance(command, IssueDocument) else None
        command = with_number(command, number, code, term)
    if isinstance(command, ReceiveDocument):
        if command.paper_delivery_of is not None:
            sender = (await store.load(conn, command.paper_delivery_of)).state
            command = link_paper_copy(command, sender, state)
        duplicates = await _note_incoming(conn, a.document_id, command)
        if duplicates:
            warnings.append(
                f"duplicate: {command.number_code} of {command.issuing_body} dated {command.document_date} "
                f"was already received by office {command.office_id}"
            )

    # Deadlines counted in working days read the published calendar as it is now.
    calendar = await load_calendar(conn) if isinstance(command, _COUNTS_DAYS) else None
    events = decide(command, state, a.now, calendar)
    envelopes = record(
        events,
        state,
        now=a.now,
        actor=a.actor,
        causation_id=a.causation_id,
        correlation_id=a.correlation_id,
        idempotency_key=a.idempotency_key,
    )
    if envelopes:
        appended = await store.append(conn, envelopes, loaded.last_hash)
        after = fold(envelopes, state)
        if store.snapshot_due(state.version, after.version):
            await store.save_snapshot(conn, after)
        position = appended[-1].position
    else:  # the decider found nothing to record (e.g. a deadline already marked): a no-op, not an error
        after = state
        position = loaded.last_position or await conn.fetchval(
            "SELECT coalesce(max(position), 0) FROM events WHERE stream_id = $1", a.document_id
        )
    if a.idempotency_key is not None:
        await conn.execute(
            "INSERT INTO idempotency_keys (key, request_hash, document_id, version, position, warnings) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            a.idempotency_key,
            request_hash,
            a.document_id,
            after.version,
            position,
            warnings,
        )
    return HandleResult(after, envelopes, position, warnings, duplicates=duplicates)


async def _only_system_since(conn: Conn, document_id: str, seen: int, current: int) -> bool:
    """Whether every event after the version the caller saw was the system's own (deadline chasing,
    delivery records): those do not invalidate a person's decision, so they are no conflict."""
    if not 0 < seen < current:
        return False
    human = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = $1 AND version > $2 "
        "AND NOT (convert_from(body, 'UTF8')::jsonb -> 'actor' -> 'roles') ? 'system')",
        document_id,
        seen,
    )
    return not human


def _request_hash(a: HandleRequest) -> bytes:
    request: dict[str, Any] = {
        "document_id": a.document_id,
        "action": a.command.action,
        "command": a.command.model_dump(mode="json", by_alias=True),
        "actor": a.actor.to_dict(),
    }
    return hashlib.sha256(canonical_json(request)).digest()


async def _replay(conn: Conn, key: str, request_hash: bytes) -> HandleResult | None:
    # Same-key requests queue here, so the second one sees the first one's row once it commits.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", key)
    row = await conn.fetchrow(
        "SELECT request_hash, document_id, version, position, warnings FROM idempotency_keys WHERE key = $1",
        key,
    )
    if row is None:
        return None
    if bytes(row["request_hash"]) != request_hash:
        raise IdempotencyKeyReused(key)
    first = await store.load(conn, row["document_id"], up_to=row["version"])
    return HandleResult(first.state, [], row["position"], list(row["warnings"]), replayed=True)


def _key(text: str) -> str:
    """Comparison form of a số ký hiệu or an issuing body: NFC, case- and space-insensitive."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


async def _note_incoming(conn: Conn, document_id: str, command: ReceiveDocument) -> list[str]:
    """Record the received document; the ids of those its office already received that are the same."""
    body_key, code_key = _key(command.issuing_body), _key(command.number_code)
    earlier = await conn.fetch(
        "SELECT document_id FROM incoming_received WHERE office_id = $1 AND number_code_key = $2 "
        "AND document_date = $3 AND issuing_body_key = $4 AND document_id <> $5 ORDER BY document_id",
        command.office_id,
        code_key,
        command.document_date,
        body_key,
        document_id,
    )
    await conn.execute(
        "INSERT INTO incoming_received (document_id, office_id, issuing_body_key, number_code_key, "
        "document_date) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (document_id) DO NOTHING",
        document_id,
        command.office_id,
        body_key,
        code_key,
        command.document_date,
    )
    return [r["document_id"] for r in earlier]
