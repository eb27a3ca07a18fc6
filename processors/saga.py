"""The delivery saga: an issued document becomes an incoming copy in each recipient office, and each
copy's handling status flows back to the sender's deliveries. Tasks are queued by `apply_batch` in the
same transaction as the rows that caused them and run here, through the write side, idempotently."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import asyncpg

from deploy.config.db import Conn
from processors.filecheck import check_file
from processors.schema import LIVE_SCHEMA
from processors.writeside import WriteSide, system_actor
from producers.closures import closures
from producers.errors import VersionConflict
from producers.handler import HandleRequest
from schemas.commands import (
    DeliveryRef,
    HandOver,
    MarkRecallRequested,
    MarkReplaced,
    ReceiveDocument,
    RecordDeliveries,
    RecordDelivery,
    RecordRecallAnswer,
    RecordRecipientStatus,
)
from schemas.decider import DomainError
from schemas.enums import RecipientState, Secrecy, Urgency
from schemas.state import DocumentState
from schemas.values import Attachment, Source

log = logging.getLogger(__name__)
SAGA_LOCK = 0x76616E7468_7367  # one saga runner at a time, so a copy's statuses are reported in order
MAX_ATTEMPTS = 5
BACKOFF_S = 1.0  # the wait after the first failure, doubled after each next one
MAX_BACKOFF_S = 60.0
_COPIES = uuid5(NAMESPACE_URL, "https://vanthu/delivered-copy")
DELIVERY_WORKERS = 6  # copies created at once (the write side's pool in the processors has 8 connections)
MAX_REFS = 1000  # deliveries recorded in one write
BATCH_FROM = 8  # deliveries of one document pending together: created a few at a time, recorded at once


def copy_id(source_document_id: str, office_id: str) -> str:
    """The id of the incoming copy of a document in a recipient office: the same however often computed."""
    return str(uuid5(_COPIES, f"{source_document_id}\x1f{office_id}"))


@dataclass
class SagaRun:
    done: int = 0
    failed: int = 0
    busy: bool = False  # another runner holds the lock


async def deliver(pool: asyncpg.Pool, ws: WriteSide, source_document_id: str, office_id: str) -> str:
    """Create the copy (once) and record the delivery on the issuing document (once)."""
    source = await _issued(pool, source_document_id)
    assert source.office_id is not None  # _issued checked it
    copy = await _create_copy(None, ws, source, office_id)
    await _record_delivery(pool, ws, source.id, source.office_id, office_id, copy)
    await _hand_over_if_closed(ws, {office_id: copy})
    return copy


async def deliver_all(
    pool: asyncpg.Pool, ws: WriteSide, source_document_id: str, office_ids: list[str]
) -> None:
    """`deliver` for many recipients of one document (a city document to every committee): the copies
    are created a few at a time, and recorded on the issuing document in one write instead of one each."""
    source = await _issued(pool, source_document_id)
    assert source.office_id is not None
    made: dict[str, str] = {}

    async def worker(share: list[str]) -> None:  # one connection each: no pool round trip per copy
        async with ws.pool.acquire() as conn:
            for office_id in share:
                made[office_id] = await _create_copy(conn, ws, source, office_id)

    await asyncio.gather(*(worker(office_ids[i::DELIVERY_WORKERS]) for i in range(DELIVERY_WORKERS)))
    copies = {o: made[o] for o in office_ids}
    refs = tuple(DeliveryRef(office_id=o, document_id=c) for o, c in copies.items())
    for at in range(0, len(refs), MAX_REFS):
        await ws.handle(
            HandleRequest(
                RecordDeliveries(deliveries=refs[at : at + MAX_REFS]),
                document_id=source.id,
                expected_version=None,
                actor=system_actor(source.office_id),
            ),
        )
    await _hand_over_if_closed(ws, copies)


async def _issued(pool: asyncpg.Pool, source_document_id: str) -> DocumentState:
    raw = await pool.fetchval(f"SELECT data FROM {LIVE_SCHEMA}.documents WHERE id = $1", source_document_id)
    if raw is None:
        raise LookupError(f"issued document {source_document_id} is not in the read models")
    source = DocumentState.from_dict(raw)
    if source.office_id is None or source.document_type is None or source.issued_on is None:
        raise LookupError(f"document {source_document_id} has not been issued")
    return source


async def _create_copy(conn: Conn | None, ws: WriteSide, source: DocumentState, office_id: str) -> str:
    assert source.office_id is not None and source.document_type is not None and source.issued_on is not None
    copy = copy_id(source.id, office_id)
    sender = ws.offices.get(source.office_id)
    command = ReceiveDocument(
        office_id=office_id,
        issuing_body=sender.name if sender is not None else source.office_id,  # tác giả, as registers show it
        number_code=source.number_code or "",
        document_date=source.issued_on,
        document_type=source.document_type,
        summary=source.summary or "",
        urgency=source.urgency or Urgency.THUONG,
        secrecy=source.secrecy or Secrecy.THUONG,
        attachments=delivered_files(source),
        source=Source(office_id=source.office_id, document_id=source.id),
    )
    try:
        await ws.handle(
            HandleRequest(command, document_id=copy, expected_version=0, actor=system_actor(office_id)), conn
        )
    except VersionConflict:
        pass  # the copy exists: an earlier run created it
    return copy


async def _hand_over_if_closed(ws: WriteSide, copies: dict[str, str]) -> None:
    """A copy issued before its recipient closed and delivered after it goes on to the successor."""
    async with ws.pool.acquire() as conn:  # the write side's index: the processors' role does not read it
        closed = await closures(conn, copies)
    for office_id, closure in closed.items():
        await ws.handle(
            HandleRequest(
                HandOver(to_office=closure.successors[0], closed_on=closure.closed_on, basis=closure.basis),
                document_id=copies[office_id],
                expected_version=None,
                actor=system_actor(office_id),
                idempotency_key=f"hand-over:{copies[office_id]}",
            ),
        )


def delivered_files(source: DocumentState) -> tuple[Attachment, ...]:
    """The signed original and appendices go with an electronic copy: the same stored bytes, referenced by
    hash (no copy), verified afresh on receipt. Nothing of a Tối mật or Tuyệt mật document leaves its office
    electronically."""
    return tuple(a.model_copy(update={"signature": None}) for a in source.delivered_attachments())


async def _record_delivery(
    pool: asyncpg.Pool, ws: WriteSide, source_id: str, source_office: str, office_id: str, copy: str
) -> None:
    await ws.handle(
        HandleRequest(
            RecordDelivery(office_id=office_id, document_id=copy),
            document_id=source_id,
            expected_version=None,
            actor=system_actor(source_office),
            idempotency_key=f"record-delivery:{source_id}:{office_id}",
        ),
    )


async def report_status(pool: asyncpg.Pool, ws: WriteSide, payload: dict[str, Any]) -> None:
    """Record a copy's new state on its source document (once per copy version)."""
    source_id, source_office = payload["source_document_id"], payload["source_office_id"]
    office, copy = payload["office_id"], payload["copy_document_id"]
    # The copy's events can be projected before its delivery was recorded: record it first (idempotent).
    await _record_delivery(pool, ws, source_id, source_office, office, copy)
    await ws.handle(
        HandleRequest(
            RecordRecipientStatus(office_id=office, document_id=copy, state=RecipientState(payload["state"])),
            document_id=source_id,
            expected_version=None,
            actor=system_actor(source_office),
            idempotency_key=f"recipient-status:{copy}:{payload['version']}",
        ),
    )


async def recall_copy(pool: asyncpg.Pool, ws: WriteSide, payload: dict[str, Any]) -> None:
    """Tell a delivered copy that its sender recalled the original (once)."""
    await ws.handle(
        HandleRequest(
            MarkRecallRequested(reason=payload["reason"]),
            document_id=payload["copy_document_id"],
            expected_version=None,
            actor=system_actor(payload["office_id"]),
            idempotency_key=f"recall-copy:{payload['copy_document_id']}",
        ),
    )


async def report_recall_answer(pool: asyncpg.Pool, ws: WriteSide, payload: dict[str, Any]) -> None:
    """Record a recipient's answer to a recall on the issuing document (once)."""
    await ws.handle(
        HandleRequest(
            RecordRecallAnswer(
                office_id=payload["office_id"],
                document_id=payload["copy_document_id"],
                answer=payload["answer"],
                reason=payload["reason"],
            ),
            document_id=payload["source_document_id"],
            expected_version=None,
            actor=system_actor(payload["source_office_id"]),
            idempotency_key=f"recall-answer:{payload['copy_document_id']}",
        ),
    )


async def send_correction(pool: asyncpg.Pool, ws: WriteSide, payload: dict[str, Any]) -> str:
    """Create, once, the correction notice (đính chính) for a copy in its office, linked to that copy."""
    raw = await pool.fetchval(
        f"SELECT data FROM {LIVE_SCHEMA}.documents WHERE id = $1", payload["source_document_id"]
    )
    if raw is None:
        raise LookupError(f"corrected document {payload['source_document_id']} is not in the read models")
    source = DocumentState.from_dict(raw)
    if source.office_id is None or source.document_type is None:
        raise LookupError(f"document {source.id} has not been issued")
    office, copy = payload["office_id"], payload["copy_document_id"]
    notice = str(uuid5(_COPIES, f"{copy}\x1fcorrection\x1f{payload['version']}"))
    sender = ws.offices.get(source.office_id)
    command = ReceiveDocument(
        office_id=office,
        issuing_body=sender.name if sender is not None else source.office_id,
        number_code=source.number_code or "",
        document_date=source.updated_at.date() if source.updated_at else source.issued_on or source.signed_on,  # type: ignore[arg-type]
        document_type=source.document_type,
        summary=f"Đính chính văn bản {source.number_code}: {payload['note']}",
        urgency=source.urgency or Urgency.THUONG,
        secrecy=source.secrecy or Secrecy.THUONG,
        linked_copy=copy,
        link="corrects",
    )
    try:
        await ws.handle(
            HandleRequest(command, document_id=notice, expected_version=0, actor=system_actor(office))
        )
    except VersionConflict:
        pass  # an earlier run created it
    return notice


async def mark_replaced(pool: asyncpg.Pool, ws: WriteSide, payload: dict[str, Any]) -> None:
    """Name, on the old copy, the replacement's copy in the same office (once)."""
    replacement = copy_id(payload["replacement_id"], payload["office_id"])
    await ws.handle(
        HandleRequest(
            MarkReplaced(replacement_document_id=replacement),
            document_id=payload["copy_document_id"],
            expected_version=None,
            actor=system_actor(payload["office_id"]),
            idempotency_key=f"replaced:{payload['copy_document_id']}:{replacement}",
        ),
    )


async def run_tasks(pool: asyncpg.Pool, ws: WriteSide, limit: int = 200) -> SagaRun:
    """Run pending tasks in the order they were queued; a failure is retried after a wait that doubles
    each time (the tasks queued after it wait too, so a copy's statuses keep their order), then left as
    failed for `redrive`."""
    run = SagaRun()
    async with pool.acquire() as lock_conn:
        if not await lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", SAGA_LOCK):
            run.busy = True
            return run
        try:
            tasks = await lock_conn.fetch(
                """SELECT id, kind, payload, attempts, not_before > clock_timestamp() AS waiting
                   FROM public.processor_tasks WHERE status = 'pending' ORDER BY id LIMIT $1""",
                limit,
            )
            batched = await _deliver_batches(pool, ws, lock_conn, tasks, run)
            for task in tasks:
                if task["id"] in batched:
                    continue
                if task["waiting"]:
                    break  # backing off
                try:
                    if task["kind"] == "deliver":
                        p = task["payload"]
                        await deliver(pool, ws, p["source_document_id"], p["office_id"])
                    elif task["kind"] == "recipient_status":
                        await report_status(pool, ws, task["payload"])
                    elif task["kind"] == "file":
                        await check_file(pool, ws, task["payload"])
                    elif task["kind"] == "recall_copy":
                        await recall_copy(pool, ws, task["payload"])
                    elif task["kind"] == "recall_answer":
                        await report_recall_answer(pool, ws, task["payload"])
                    elif task["kind"] == "correction":
                        await send_correction(pool, ws, task["payload"])
                    elif task["kind"] == "replaced":
                        await mark_replaced(pool, ws, task["payload"])
                    await lock_conn.execute(
                        """UPDATE public.processor_tasks SET status = 'done', done_at = clock_timestamp(),
                           attempts = attempts + 1, error = NULL WHERE id = $1""",
                        task["id"],
                    )
                    run.done += 1
                except Exception as exc:
                    permanent = isinstance(exc, DomainError) or task["attempts"] + 1 >= MAX_ATTEMPTS
                    log.warning("saga task %s (%s) failed: %r", task["id"], task["kind"], exc)
                    await lock_conn.execute(
                        """UPDATE public.processor_tasks SET attempts = attempts + 1, error = $2,
                           status = CASE WHEN $3 THEN 'failed' ELSE 'pending' END,
                           not_before = clock_timestamp() + make_interval(secs => $4) WHERE id = $1""",
                        task["id"],
                        f"{type(exc).__name__}: {exc}",
                        permanent,
                        min(BACKOFF_S * 2 ** task["attempts"], MAX_BACKOFF_S),
                    )
                    run.failed += 1
                    if not permanent:
                        break  # keep the order: retry this one before anything queued after it
        finally:
            await lock_conn.execute("SELECT pg_advisory_unlock($1)", SAGA_LOCK)
    return run


async def _deliver_batches(
    pool: asyncpg.Pool, ws: WriteSide, lock_conn: Conn, tasks: list[Any], run: SagaRun
) -> set[int]:
    """Run the first pending deliveries of one document together (`deliver_all`) when there are many;
    answers the ids of the tasks done. On any failure nothing is marked: each task then runs on its own
    (with its retries), and what the batch already did is found done (every step is idempotent)."""
    first = next(iter(tasks), None)
    if first is None or first["kind"] != "deliver" or first["waiting"]:
        return set()
    source = first["payload"]["source_document_id"]
    batch = []
    for task in tasks:
        if task["kind"] != "deliver" or task["payload"]["source_document_id"] != source or task["waiting"]:
            break
        batch.append(task)
    if len(batch) < BATCH_FROM:
        return set()
    try:
        await deliver_all(pool, ws, source, [t["payload"]["office_id"] for t in batch])
    except Exception as exc:
        log.warning(
            "saga: delivering %s to %d offices at once failed (%r); one by one", source, len(batch), exc
        )
        return set()
    ids = [t["id"] for t in batch]
    await lock_conn.execute(
        """UPDATE public.processor_tasks SET status = 'done', done_at = clock_timestamp(),
           attempts = attempts + 1, error = NULL WHERE id = ANY($1::bigint[])""",
        ids,
    )
    run.done += len(ids)
    return set(ids)


async def failed_tasks(conn: Conn) -> list[dict[str, Any]]:
    """Saga tasks that failed for good, oldest first (listed with the dead letters)."""
    rows = await conn.fetch(
        """SELECT id, kind, key, payload, attempts, redriven, error, created_at FROM public.processor_tasks
           WHERE status = 'failed' ORDER BY id"""
    )
    return [dict(r) for r in rows]


async def redrive(conn: Conn, task_id: int | None = None) -> int:
    """Queue failed tasks (one, or all) again with fresh attempts; returns how many. The saga runs them."""
    result = await conn.execute(
        """UPDATE public.processor_tasks SET status = 'pending', attempts = 0, not_before = '-infinity',
               redriven = redriven + 1
           WHERE status = 'failed' AND ($1::bigint IS NULL OR id = $1)""",
        task_id,
    )
    return int(result.split()[-1])
