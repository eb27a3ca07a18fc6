"""`handle`: the one command handler. Load ▸ number ▸ decide ▸ append, in one Postgres transaction."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from deploy.config.db import Conn
from deploy.config.offices import Offices
from producers import store
from producers.acts import current_term, load_calendar
from producers.closures import guard_creation, refuse_closed, refuse_not_open
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

log = logging.getLogger("vanthu.handler")

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


# Builds the command once the document is loaded, refusing (by raising) a caller who may not see it or
# may not take the action: the API's visibility and role checks, run on the one load of the action.
Prepare = Callable[[DocumentState, Conn], Awaitable[Command]]


@dataclass(frozen=True)
class HandleRequest:
    """One command on one document, as a person or the system asks for it."""

    command: Command | Prepare
    document_id: str
    expected_version: int | None  # None takes whatever the current version is (system commands)
    actor: Actor
    idempotency_key: str | None = None
    now: datetime | None = None  # the decision's clock; the current time when not given
    causation_id: UUID | None = None
    correlation_id: UUID | None = None


class StateCache:
    """The documents this process acted on lately, as they were after its last write: an action whose
    If-Match is the entry's version reads nothing before its append, which inserts only if the store's
    last event is still the entry's (its version and hash); any other action on a document just acted on
    loads its newer events only instead of decoding its stream. A stale entry costs a retry, never a
    wrong write: `store.load` checks the entry's version and hash against the store, and the unique
    (stream, version) constraint arbitrates every write."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._kept: OrderedDict[str, store.Stream] = OrderedDict()

    def get(self, document_id: str) -> store.Stream | None:
        kept = self._kept.get(document_id)
        if kept is not None:
            self._kept.move_to_end(document_id)
        return kept

    def put(self, stream: store.Stream) -> None:
        self._kept[stream.state.id] = stream
        self._kept.move_to_end(stream.state.id)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)


class RelayWake:
    """One NOTIFY for many commits: a wake-up is sent after a commit unless one was sent less than `gap_s`
    ago or is on its way, in which case one more follows when the gap is over. The relay also polls, in
    case one is lost.

    Each wake-up is a round trip to PostgreSQL, a small notifying transaction and a wake-up of the relay;
    one per action (200 actions/s) made the relay publish about one event per Kafka request and the
    processors apply one per transaction. At most one per gap lets the events committed meanwhile travel
    together, for at most that much more latency (freshness benchmark, loaded machine, CPU per action,
    with a 10 ms gap: this process 1.47 → 1.31 ms, the processor 1.21 → 1.05 ms, Kafka 0.52 → 0.37 ms).
    Every other action of a steady 200 actions/s stream waits for the wake-up after the gap (about 5 ms on
    average), but a shorter gap costs more than it saves: in the quiet
    `make bench` of 2026-11-30 21:13-21:30 UTC (5ecdd17) a 4 ms gap gave freshness SSE p50 / p99 40.7 / 191
    and 50.6 / 145.7 ms against 31.2 / 103.3 with 10 ms (more NOTIFYs, each taking PostgreSQL's notify
    lock, which the projector's commit holds while it flushes), and the commands' p99 103 ms."""

    def __init__(self, pool: asyncpg.Pool[Any], gap_s: float = 0.01) -> None:
        self.pool, self.gap_s = pool, gap_s
        self._sending: asyncio.Task[None] | None = None
        self._again = False

    def poke(self) -> None:
        if self._sending is not None and not self._sending.done():
            self._again = True
            return
        self._sending = asyncio.create_task(self._send())

    async def _send(self) -> None:
        while True:
            self._again = False
            try:
                async with self.pool.acquire() as conn:
                    await store.wake_relay(conn)
            except Exception as exc:  # the pool is closing, or Postgres is away: the relay's poll covers it
                log.debug("relay wake-up not sent: %s", exc)
                return
            if self.gap_s:
                await asyncio.sleep(self.gap_s)
            if not self._again:
                return

    async def close(self) -> None:
        if self._sending is not None:
            with contextlib.suppress(Exception):
                await self._sending


# Pool connections an action never waits for: the relay's wake-up and the reads share the pool.
SPARE_CONNECTIONS = 2


@dataclass
class WritePath:
    """What one process keeps between actions on its pool: recent document states, the relay's
    coalesced wake-up, and the actions' turns at a connection. Without one, `handle` reads every stream
    afresh and notifies in each append.

    Turns are taken first come, first served (asyncio.Semaphore hands a freed turn to its oldest
    waiter). asyncpg's pool does not: a connection released while others wait goes to whichever task
    asks next, and a woken waiter that finds it taken queues again at the back; under load most actions
    got a connection at once while a few waited hundreds of milliseconds (tests/bench command_throughput,
    README "Commands")."""

    pool: asyncpg.Pool[Any]
    cache: StateCache = field(default_factory=StateCache)
    turns: int | None = None  # actions holding a connection at once; None: the pool's size less the spare
    wake_gap_s: float = 0.01  # RelayWake's gap (VANTHU_RELAY_WAKE_GAP)
    wake: RelayWake = field(init=False)
    gate: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.wake = RelayWake(self.pool, self.wake_gap_s)
        size = self.turns or max(1, self.pool.get_max_size() - SPARE_CONNECTIONS)
        self.gate = asyncio.Semaphore(size)


async def handle(
    pool_or_conn: asyncpg.Pool[Any] | Conn | WritePath, request: HandleRequest, offices: Offices
) -> HandleResult:
    """Decide the request's command on its document and append its events, or refuse.

    Raises VersionConflict, IdempotencyKeyReused, DocumentNotFound, UnknownOffice, the decider's
    DomainError, or whatever the request's `prepare` raises. A stale expected version is accepted when
    only the system appended since (no person acted meanwhile). `offices` gives the author code written
    into an outgoing document's ký hiệu.
    """
    if request.now is None:
        request = replace(request, now=datetime.now(UTC))
    if isinstance(pool_or_conn, WritePath):
        path = pool_or_conn
        async with path.gate, path.pool.acquire() as conn:
            result = await _handle(conn, request, offices, path.cache)
        if result.events:
            path.wake.poke()
        return result
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            return await _handle(conn, request, offices, None)
    return await _handle(pool_or_conn, request, offices, None)


class _Unverified(Exception):
    """An attempt on a cached state that was not read from the store ended otherwise than in a write: the
    next attempt reads the stream, so what is answered (a refusal, a conflict, a no-op) is the store's."""


async def _handle(conn: Conn, a: HandleRequest, offices: Offices, cache: StateCache | None) -> HandleResult:
    trust = cache is not None
    for _ in range(MAX_ATTEMPTS):
        try:
            result, stream = await _attempt(conn, a, offices, cache, trust)
        except _Unverified:
            trust = False
            continue
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != _VERSION_TAKEN:
                raise
            # Another writer appended this version first and has committed by now: the next attempt
            # sees its event, and refuses with VersionConflict unless only the system acted meanwhile.
            trust = False
            continue
        if cache is not None and stream is not None:
            cache.put(stream)  # committed: what the next action on this document starts from
        return result
    raise RuntimeError(f"document {a.document_id}: gave up after {MAX_ATTEMPTS} lost races")


async def _attempt(
    conn: Conn, a: HandleRequest, offices: Offices, cache: StateCache | None, trust: bool = False
) -> tuple[HandleResult, store.Stream | None]:
    """One try. The common action is read, decided, and written by one statement (atomic on its own);
    a transaction is opened only when more must be written with the events (a number taken, an
    idempotency key, an incoming document's duplicate record) or the caller is in one already.

    `trust`: an action at the version this process last wrote (If-Match equal to the cached entry's)
    reads nothing: it is decided on the cached state and appended only if the store's last event is the
    cached one (`store.append(chained=True)`). A refusal is answered once the store is seen to hold the
    cached state still; anything else (the store moved on, nothing to record) raises _Unverified and is
    tried again on the stream as read."""
    assert a.now is not None  # handle() fills it in
    kept = None if cache is None else cache.get(a.document_id)
    if (
        trust
        and kept is not None
        and kept.state.version > 0
        and kept.state.version == a.expected_version
        and a.idempotency_key is None
        and not conn.is_in_transaction()
    ):
        try:
            return await _decide_and_append(conn, a, offices, kept, cached=True, notify=False)
        except (_Unverified, asyncpg.UniqueViolationError):
            raise
        except Exception as exc:
            # a refusal (the caller's checks, the decider's) stands if the cached state is the store's
            try:
                current = await store.is_last(conn, kept)
            except Exception:
                current = False
            if current:
                raise
            raise _Unverified from exc
    return await _decide_and_append(conn, a, offices, kept, cached=False, notify=cache is None)


async def _decide_and_append(
    conn: Conn, a: HandleRequest, offices: Offices, kept: store.Stream | None, cached: bool, notify: bool
) -> tuple[HandleResult, store.Stream | None]:
    """`kept`: this process's last state of the document; `cached`: decide on it without reading the
    stream. With a cache the caller wakes the relay after the commit (see RelayWake), so `notify` is off."""
    assert a.now is not None
    async with contextlib.AsyncExitStack() as tx:
        caller_tx = conn.is_in_transaction()
        if caller_tx or a.idempotency_key is not None:
            await tx.enter_async_context(conn.transaction())
        request_hash = None
        if a.idempotency_key is not None and not callable(a.command):
            request_hash = _request_hash(a, a.command)
            replay = await _replay(conn, a.idempotency_key, request_hash)
            if replay is not None:
                return replay, None

        loaded = kept if cached and kept is not None else await store.load(conn, a.document_id, known=kept)
        state = loaded.state
        command = await a.command(state, conn) if callable(a.command) else a.command
        if a.idempotency_key is not None and request_hash is None:
            request_hash = _request_hash(a, command)
            replay = await _replay(conn, a.idempotency_key, request_hash)
            if replay is not None:
                return replay, None
        if state.updated_at is not None and state.updated_at > a.now:
            # This host's clock is behind the one that wrote the previous event: time never runs
            # backwards within a document, so the event takes the previous one's time.
            a = replace(a, now=state.updated_at)
        assert a.now is not None
        if a.expected_version is not None and state.version != a.expected_version:
            if state.version == 0:
                raise DocumentNotFound(a.document_id)
            if not await _only_system_since(conn, a.document_id, a.expected_version, state.version):
                raise VersionConflict(a.document_id, a.expected_version, state)
        if state.version == 0 and not isinstance(command, CREATION_COMMANDS):
            raise DocumentNotFound(a.document_id)

        warnings: list[str] = []
        duplicates: list[str] = []
        if isinstance(command, (ReceiveDocument, DraftDocument, CreateTask)):
            delivered = isinstance(command, ReceiveDocument) and command.source is not None
            if not delivered:  # a copy goes where it was addressed, which was open when it was issued
                refuse_not_open(offices, [command.office_id], local_date(a.now))
            await guard_creation(conn, command.office_id, delivered)
        elif isinstance(command, IssueDocument):
            refuse_not_open(offices, command.recipients, local_date(a.now))
            await refuse_closed(conn, command.recipients)  # naming the successor to address instead
        term = None
        if isinstance(command, IssueDocument) and state.office_id is not None:
            term = await current_term(conn, state.office_id, local_date(a.now))
        needed = numbering_needed(command, state, a.now, term)
        if (needed is not None or isinstance(command, ReceiveDocument)) and not conn.is_in_transaction():
            await tx.enter_async_context(conn.transaction())  # the number or record goes with the events
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
                    f"duplicate: {command.number_code} of {command.issuing_body} dated "
                    f"{command.document_date} was already received by office {command.office_id}"
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
        stream: store.Stream | None = None
        snapshot_due = store.snapshot_due(state.version, state.version + len(envelopes))
        if envelopes and snapshot_due and not conn.is_in_transaction():
            await tx.enter_async_context(conn.transaction())  # a snapshot is kept by its event's transaction
        if envelopes:
            appended = await store.append(conn, envelopes, loaded.last_hash, notify=notify, chained=cached)
            if not appended:
                raise _Unverified  # the cached state is not the store's last: rolled back, read it
            after = fold(envelopes, state)
            if snapshot_due:
                await store.save_snapshot(conn, after)
            position = appended[-1].position
            stream = store.Stream(after, appended[-1].hash, position)
        elif cached:
            raise _Unverified  # a no-op answers the stored state: read it
        else:  # the decider found nothing to record (e.g. a deadline already marked): a no-op, not an error
            after = state
            position = loaded.last_position or await conn.fetchval(
                "SELECT coalesce(max(position), 0) FROM events WHERE stream_id = $1", a.document_id
            )
            stream = loaded if loaded.last_position is not None else None
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
    # Kept only by a caller outside a transaction: inside one, the caller may still roll it back.
    kept = None if caller_tx else stream
    return HandleResult(after, envelopes, position, warnings, duplicates=duplicates), kept


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


def _request_hash(a: HandleRequest, command: Command) -> bytes:
    request: dict[str, Any] = {
        "document_id": a.document_id,
        "action": command.action,
        "command": command.model_dump(mode="json", by_alias=True),
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
