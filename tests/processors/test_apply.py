"""The apply transaction against real PostgreSQL: exactly-once effect, gaps, jumps, poison records."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from processors.apply import apply_batch
from processors.deadletters import list_dead_letters, retry
from processors.documents import Changes, write_documents
from schemas.evolve import fold
from tests.processors.helpers import Log
from tests.processors.workload import Workload, incoming_body, story
from tests.toolkit.waiting import wait_until

REGISTER = {"action": "register"}


async def _snapshot(db: Any) -> list[Any]:
    out = []
    for table in (
        "documents",
        "assignments",
        "document_offices",
        "deliveries",
        "incoming_register",
        "listing",
    ):
        out.append(await db.fetch(f"SELECT * FROM rm.{table} ORDER BY 1, 2"))
    return out


async def test_redelivered_records_change_nothing(db: Any) -> None:
    log = Log()
    records = log.append(Workload(["o1", "o2", "o3"], seed=7).events(3000))
    first = await apply_batch(db, records[:2000])
    assert first.applied == 2000 and first.dead == 0
    before = await _snapshot(db)
    again = await apply_batch(db, records[:1500])  # a redelivery after a crash
    assert (again.applied, again.duplicates) == (0, 1500)
    assert await _snapshot(db) == before
    rest = await apply_batch(db, records[1000:])  # overlapping: the first half is skipped by offset
    assert (rest.applied, rest.duplicates) == (1000, 1000)
    assert await db.fetchval('SELECT sum("offset" + 1) FROM rm.offsets') == 3000


async def test_a_jump_past_the_stored_offset_applies_nothing_and_asks_to_seek_back(db: Any) -> None:
    log = Log(partitions=1)
    records = log.append(Workload(["o1"], seed=3).events(50))
    await apply_batch(db, records[:10])
    result = await apply_batch(db, records[20:30])  # faust positioned past offsets 10..19
    assert result.applied == 0 and result.seeks == {("t", 0): 10}
    assert await db.fetchval('SELECT "offset" FROM rm.offsets') == 9
    resumed = await apply_batch(db, records[10:])
    assert resumed.applied == 40 and not resumed.seeks


async def test_a_version_gap_is_dead_lettered_and_blocks_only_that_document(db: Any) -> None:
    log = Log(partitions=1)
    a = story("doc-a", incoming_body("o1"), [REGISTER, {"action": "submit"}, {"action": "mark_for_info"}])
    b = story("doc-b", incoming_body("o1"), [REGISTER])
    records = log.append([a[0], a[2], a[3], b[0], b[1]])  # a's version 2 is missing
    result = await apply_batch(db, records)
    assert (result.applied, result.dead) == (3, 2)
    assert await db.fetchval("SELECT version FROM rm.documents WHERE id = 'doc-a'") == 1
    assert await db.fetchval("SELECT version FROM rm.documents WHERE id = 'doc-b'") == 2
    letters = await list_dead_letters(db)
    assert [(x["version"], x["reason"]) for x in letters] == [(3, "gap"), (4, "blocked")]
    # The missing event turns up late: it is parked behind the others, then a retry applies all in order.
    await apply_batch(db, log.append([a[1]]))
    assert await db.fetchval("SELECT version FROM rm.documents WHERE id = 'doc-a'") == 1
    outcome = await retry(db)
    assert (outcome.resolved, outcome.still_open) == (3, 0)
    assert await db.fetchval("SELECT state FROM rm.documents WHERE id = 'doc-a'") == "for_info"


async def test_a_malformed_record_is_dead_lettered_and_later_events_still_apply(db: Any) -> None:
    log = Log(partitions=1)
    a = story("doc-a", incoming_body("o1"), [REGISTER])
    records = [log.append(a[:1])[0], log.raw(b"doc-a", b"\xff{not json"), *log.append(a[1:])]
    result = await apply_batch(db, records)
    assert (result.applied, result.dead) == (2, 1)
    [letter] = await list_dead_letters(db)
    assert letter["reason"] == "undecodable" and letter["offset"] == 1 and "UTF-8 JSON" in letter["error"]
    assert await db.fetchval("SELECT state FROM rm.documents WHERE id = 'doc-a'") == "registered"


async def test_an_event_postgres_cannot_store_is_dead_lettered_alone(db: Any) -> None:
    from processors.apply import apply_isolating

    log = Log(partitions=1)
    bad = story("doc-nul", incoming_body("o1", "Trích yếu có \x00 ký tự NUL"), [REGISTER])
    good = story("doc-ok", incoming_body("o1"), [REGISTER])
    records = log.append([good[0], bad[0], bad[1], good[1]])
    result = await apply_isolating(db, records)
    assert (result.applied, result.dead) == (2, 2)
    assert await db.fetchval("SELECT state FROM rm.documents WHERE id = 'doc-ok'") == "registered"
    assert await db.fetchval("SELECT count(*) FROM rm.documents WHERE id = 'doc-nul'") == 0
    letters = await list_dead_letters(db)
    assert [(x["version"], x["reason"]) for x in letters] == [(1, "unwritable"), (2, "blocked")]
    assert await db.fetchval('SELECT "offset" FROM rm.offsets') == 3


async def test_another_event_at_an_applied_version_is_a_dead_letter_not_a_duplicate(db: Any) -> None:
    import dataclasses
    import uuid

    log = Log(partitions=1)
    a = story("doc-a", incoming_body("o1"), [REGISTER, {"action": "submit"}])
    await apply_batch(db, log.append(a[:2]))
    before = await _snapshot(db)
    # A forged v2 with an id of its own, then one that copies the real id but says something else.
    forged = dataclasses.replace(a[1], event_id=uuid.uuid4())
    copied = dataclasses.replace(a[1], data={**a[1].data, "incoming_number": 999})
    redelivered = a[1]
    result = await apply_batch(db, log.append([forged, copied, redelivered]))
    assert (result.applied, result.dead, result.duplicates) == (0, 2, 1)
    assert await _snapshot(db) == before  # nothing changed silently
    letters = await list_dead_letters(db)
    assert [(x["version"], x["reason"]) for x in letters] == [(2, "conflict"), (2, "conflict")]
    assert f"this record is event {forged.event_id}" in letters[0]["error"]
    assert "this record is other bytes" in letters[1]["error"]
    # The document is not blocked by them: its next real event applies.
    applied = await apply_batch(db, log.append(a[2:]))
    assert applied.applied == 1
    assert await db.fetchval("SELECT version FROM rm.documents WHERE id = 'doc-a'") == 3


async def test_documents_are_written_only_inside_a_transaction(db: Any) -> None:
    [event] = story("outside-1", incoming_body("o1"), [])
    changes = Changes({})
    changes.changed["outside-1"] = fold([event])
    changes.last_types["outside-1"] = event.type
    # the rows are staged in temporary tables emptied at commit: outside a transaction nothing would land
    with pytest.raises(RuntimeError, match="inside the batch's transaction"):
        await write_documents(db, "rm", changes)
    async with db.transaction():
        await write_documents(db, "rm", changes)
    assert await db.fetchval("SELECT version FROM rm.listing WHERE document_id = 'outside-1'") == 1


async def _probe_commits(db: Any) -> None:
    """Record, at each batch's offsets update, whether its transaction waits for its commit's WAL flush."""
    await db.execute(
        """CREATE TABLE public.commit_probe (n serial, setting text);
           CREATE FUNCTION public.probe_commit() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               INSERT INTO public.commit_probe (setting) VALUES (current_setting('synchronous_commit'));
               RETURN NULL;
           END $$;
           CREATE TRIGGER probe AFTER UPDATE ON rm.offsets
               FOR EACH STATEMENT EXECUTE FUNCTION public.probe_commit()"""
    )


async def test_a_batch_commits_only_once_its_wal_is_on_disk(db: Any) -> None:
    # The read models would survive a lost commit (its offsets go with it and the records are applied
    # again), but the feed's entries were already announced at commit: a crash of PostgreSQL must not take
    # back seq numbers streams have sent (Last-Event-ID resumes after them). So a batch's transaction
    # keeps the session's synchronous_commit (the BEGIN and swap lock in one message change nothing there).
    await _probe_commits(db)
    log = Log(partitions=1)
    events = story("doc-a", incoming_body("o1"), [REGISTER, {"action": "submit"}])
    assert await db.fetchval("SHOW synchronous_commit") == "on"
    assert (await apply_batch(db, log.append(events[:1]))).applied == 1
    assert (await apply_batch(db, log.append(events[1:]), swap_lock=False)).applied == 2
    assert [r["setting"] for r in await db.fetch("SELECT setting FROM public.commit_probe ORDER BY n")] == [
        "on",
        "on",
    ]
    assert await db.fetchval("SHOW synchronous_commit") == "on"
    assert await db.fetchval('SELECT "offset" FROM rm.offsets') == 2


async def test_a_batch_inside_a_callers_transaction_goes_with_it(db: Any) -> None:
    # The batch opens its transaction with its first statement in the same message; inside a transaction
    # of the caller's it is a savepoint of it instead, committed or rolled back with it.
    log = Log(partitions=1)
    events = story("doc-a", incoming_body("o1"), [REGISTER])
    async with db.transaction():
        assert (await apply_batch(db, log.append(events))).applied == 2
        assert await db.fetchval("SELECT version FROM rm.documents WHERE id = 'doc-a'") == 2
        assert db.is_in_transaction()
    assert await db.fetchval("SELECT version FROM rm.documents WHERE id = 'doc-a'") == 2
    with pytest.raises(RuntimeError, match="rolled back"):
        async with db.transaction():
            again = await apply_batch(db, log.append(story("doc-b", incoming_body("o1"), [])))
            assert again.applied == 1
            raise RuntimeError("rolled back")
    assert await db.fetchval("SELECT count(*) FROM rm.documents WHERE id = 'doc-b'") == 0
    assert await db.fetchval('SELECT "offset" FROM rm.offsets') == 1
    assert not db.is_in_transaction()


async def test_a_batch_that_waited_for_its_offsets_reads_what_the_other_writer_committed(
    db: Any, database: str
) -> None:
    # A batch locks its offsets and reads its documents in one statement, whose snapshot is taken before
    # the lock is granted. A worker losing the partition mid-batch holds the lock and commits v1-v2 of
    # doc-a; the next owner's batch (offsets 0-2) waits for it, then must fold v3 onto that v2: read with
    # the old snapshot, doc-a did not exist and v3 was a version gap.
    from deploy.config.db import connect

    log = Log(partitions=1)
    records = log.append(story("doc-a", incoming_body("o1"), [REGISTER, {"action": "submit"}]))
    await apply_batch(db, records[:1])  # the offsets row exists; doc-a is at v1
    other = await connect(database)
    try:
        async with other.transaction():
            assert (await apply_batch(other, records[1:2])).applied == 1  # v2, holding offset 1's row
            waiting = asyncio.create_task(apply_batch(db, records))
            await wait_until(
                lambda: other.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                ),
                30,
                "the batch waiting for the offsets row",
            )
        result = await waiting
    finally:
        await other.close()
    assert (result.applied, result.duplicates, result.dead) == (1, 2, 0)
    assert await db.fetchval("SELECT version FROM rm.documents WHERE id = 'doc-a'") == 3
    assert not await list_dead_letters(db)
