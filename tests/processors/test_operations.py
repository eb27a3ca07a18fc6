"""Operator tools for stuck work, against a real store, a real topic and the read models: a poison record
parked with one command (its document unblocked, the decision in its history), a real event skipped, a
saga task that backs off, fails, is listed, re-driven, and delivers."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from deploy.config.db import create_pool
from deploy.config.settings import APP_ROLE, PROCESSOR_ROLE, with_user
from processors.apply import apply_batch
from processors.deadletters import list_dead_letters, settle
from processors.saga import copy_id, run_tasks
from processors.writeside import WriteSide
from producers import store
from producers.store import history
from schemas.envelope import Envelope
from tests.processors.helpers import Log
from tests.producers.conftest import ASSIGN, CLERK, OUTGOING, TASK, act, create
from tests.toolkit import OFFICES

pytestmark = pytest.mark.timeout(180)


def cli(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VANTHU_PG_DSN=database)
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", "deadletters", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.fixture
async def pool(database: str) -> Any:
    p = await create_pool(with_user(database, APP_ROLE), max_size=8)
    yield p
    await p.close()


async def stored(pool: asyncpg.Pool[Any], document: str, after: int = 0) -> list[Envelope]:
    return [a.envelope for a in await history(pool, document) if a.envelope.version > after]


async def test_a_poison_record_is_parked_with_one_command_and_its_document_goes_on(
    database: str, db: Any, pool: asyncpg.Pool[Any]
) -> None:
    log = Log(partitions=1)
    doc = await act(pool, await create(pool, TASK), ASSIGN)
    document = doc.state.id
    await apply_batch(db, log.append(await stored(pool, document)))
    # A record nobody can apply claims the document's next version; then the real next event arrives.
    poison = Envelope(
        event_id=uuid.uuid4(),
        stream_id=document,
        version=doc.state.version + 1,
        type="NoSuchEvent",
        schema_version=1,
        occurred_at=datetime.now(UTC),
        actor=CLERK,
        data={},
    )
    await apply_batch(db, log.append([poison]))
    real = await act(pool, doc, {"action": "report_progress", "percent": 40})
    blocked = await apply_batch(db, log.append(await stored(pool, document, doc.state.version)))
    assert blocked.dead == 1 and blocked.applied == 0
    assert [x["reason"] for x in await list_dead_letters(db)] == ["unappliable", "blocked"]

    result = cli(
        database, "park", "--document", document, "--reason", "bản ghi giả mạo", "--operator", "u-ops"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "parked t:0@" in result.stdout and "then resolved 1, still open 0" in result.stdout, result.stdout
    assert await db.fetchval("SELECT version FROM rm.documents WHERE id = $1", document) == real.state.version
    [settled] = await stored(pool, document, real.state.version)
    assert settled.type == "DeadLetterSettled" and settled.actor.user == "u-ops"
    assert settled.data["action"] == "park" and settled.data["reason"] == "bản ghi giả mạo"
    assert settled.data["event_id"] == str(poison.event_id)
    # The decision reaches the read models like any event, and the letters list says what was done.
    assert (await apply_batch(db, log.append([settled]))).applied == 1
    assert [x["status"] for x in await list_dead_letters(db, None)] == ["parked", "resolved"]
    assert "0 dead letter(s)" in cli(database, "list").stdout


async def test_a_real_event_the_read_models_cannot_apply_is_skipped_and_the_next_apply(
    db: Any, pool: asyncpg.Pool[Any]
) -> None:
    log = Log(partitions=1)
    doc = await act(pool, await create(pool, TASK), ASSIGN)
    document = doc.state.id
    await apply_batch(db, log.append(await stored(pool, document)))
    bad = Envelope(
        event_id=uuid.uuid4(),
        stream_id=document,
        version=doc.state.version + 1,
        type="ProgressReported",
        schema_version=1,
        occurred_at=datetime.now(UTC),
        actor=CLERK,
        data={"assignment_id": "A9", "percent": 5, "note": ""},  # no such assignment: evolve refuses
    )
    [letter] = log.append([bad])
    assert (await apply_batch(db, [letter])).dead == 1
    done = await settle(db, (letter.topic, letter.partition, letter.offset), "skip", "đã xử lý tay")
    assert (done.action, done.then.still_open) == ("skipped", 0)
    assert await db.fetchval("SELECT version FROM rm.documents WHERE id = $1", document) == bad.version
    nxt = dataclasses_replace(
        bad, version=bad.version + 1, data={"assignment_id": "A1", "percent": 50, "note": ""}
    )
    assert (await apply_batch(db, log.append([nxt]))).applied == 1
    assert await db.fetchval("SELECT version FROM rm.documents WHERE id = $1", document) == nxt.version


def dataclasses_replace(envelope: Envelope, **changes: Any) -> Envelope:
    import dataclasses

    return dataclasses.replace(envelope, event_id=uuid.uuid4(), **changes)


async def test_a_failed_saga_task_backs_off_is_listed_re_driven_and_delivers(
    database: str, db: Any, pool: asyncpg.Pool[Any]
) -> None:
    log = Log(partitions=1)
    doc = await create(pool, OUTGOING)
    sign = {"action": "sign", "signer_name": "Nguyễn Văn A", "signer_position": "Phó Bí thư"}
    for body in ({"action": "submit_review"}, {"action": "review", "approve": True}, sign):
        doc = await act(pool, doc, body)
    issued = await act(pool, doc, {"action": "issue", "recipients": ["qu-1"]})
    events = await stored(pool, issued.state.id)
    # The delivery task is queued with the issue, but its document is withheld from the read models, so
    # every attempt fails (the saga reads the issued document there).
    await apply_batch(db, log.append(events))
    [task] = await db.fetch("SELECT id FROM public.processor_tasks WHERE kind = 'deliver'")
    await db.execute("DELETE FROM rm.documents WHERE id = $1", issued.state.id)
    # The saga runs as the processors do: its bookkeeping as their own role, its commands as the services'.
    own = await create_pool(with_user(database, PROCESSOR_ROLE), max_size=4)
    try:
        await drive(database, db, own, WriteSide(OFFICES, pool), task["id"], issued.state.id, log, events)
    finally:
        await own.close()


async def drive(
    database: str, db: Any, pool: Any, ws: WriteSide, task: int, issued: str, log: Log, events: list[Envelope]
) -> None:
    for attempt in range(1, 6):
        assert (await run_tasks(pool, ws)).failed == 1
        row = await db.fetchrow(
            "SELECT status, attempts, not_before > now() AS waiting FROM public.processor_tasks "
            "WHERE id = $1",
            task,
        )
        assert row["attempts"] == attempt
        if attempt < 5:
            assert row["status"] == "pending" and row["waiting"]
            assert (await run_tasks(pool, ws)).failed == 0  # backing off: not tried again yet
            await db.execute("UPDATE public.processor_tasks SET not_before = now() WHERE id = $1", task)
        else:
            assert row["status"] == "failed"
    listed = cli(database, "list")
    assert f"task {task}  failed" in listed.stdout and "LookupError" in listed.stdout, listed.stdout

    # The cause is fixed (the read models hold the document again); one command drives the task again.
    await db.execute("DELETE FROM rm.event_ids WHERE document_id = $1", issued)
    await db.execute("DELETE FROM rm.offsets")
    assert (await apply_batch(db, Log(partitions=1).append(events))).applied == len(events)
    result = cli(database, "redrive", "--task", str(task))
    assert result.returncode == 0 and "queued 1" in result.stdout, result.stdout + result.stderr
    assert (await run_tasks(pool, ws)).done >= 1
    copy = await store.load(ws.pool, copy_id(issued, "qu-1"))
    assert copy.state.version >= 1 and copy.state.office_id == "qu-1"
    assert "0 failed saga task(s)" in cli(database, "list").stdout
