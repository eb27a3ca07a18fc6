"""What a batch writes: only the rows that changed, and one feed notice per office (real PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from processors.apply import apply_batch
from processors.documents import StateCache
from processors.feed import FEED_CHANNEL
from processors.rebuild import differences
from tests.processors.helpers import Log
from tests.processors.workload import Workload, incoming_body, story
from tests.toolkit.waiting import wait_until

_BODIES: dict[str, dict[str, Any]] = {
    "assign": {
        "lead": {"unit": "unit-1"},
        "cooperating": [],
        "directive": "Xử lý",
        "deadline": {"working_days": 5},
    },
    "report_progress": {"percent": 40, "note": "Đang làm"},
}


def _handled(document_id: str, actions: list[str]) -> list[Any]:
    """An incoming document of o1 taken through these actions (with the bodies they need)."""
    return story(document_id, incoming_body("o1"), [{"action": a, **_BODIES.get(a, {})} for a in actions])


async def test_small_batches_with_the_cache_write_the_same_rows_as_one_batch(db: Any) -> None:
    # Each batch writes only the difference between a document's rows before and after it, from the
    # cached rows or from its stored state: the result must be the rows the whole log gives at once.
    records = Log().append(Workload(["o1", "o2", "o3"], seed=21).events(4000))
    await db.execute("SELECT public.vanthu_rm_create('rm_whole')")
    whole = await apply_batch(db, records, schema="rm_whole", effects=False)
    cache = StateCache()
    applied = 0
    for start, size in [(0, 1), (1, 7), (8, 300), (308, 1000)] + [(n, 113) for n in range(1308, 4000, 113)]:
        batch = records[start : start + size]
        # every third batch without the cache: the rows before are rebuilt from the stored state
        result = await apply_batch(db, batch, effects=False, cache=cache if start % 3 else None)
        applied += result.applied
    assert applied == whole.applied > 3000
    assert await differences(db, "rm", "rm_whole") == {}


async def test_an_event_rewrites_only_the_rows_it_changed(db: Any) -> None:
    log = Log(partitions=1)
    actions = ["register", "submit", "assign", "start", "report_progress"]
    events = _handled("doc-w", actions)
    cache = StateCache()
    await apply_batch(db, log.append(events[:-1]), cache=cache)

    async def rows() -> dict[str, tuple[Any, Any]]:
        out = {}
        for t in ("document_offices", "assignments", "incoming_register", "listing"):
            found = await db.fetch(f"SELECT xmin::text AS v, t.* FROM rm.{t} t WHERE document_id = 'doc-w'")
            out[t] = ([r["v"] for r in found], [dict(r, v=None) for r in found])
        return out

    kept = await rows()
    await apply_batch(db, log.append(events[-1:]), cache=cache)  # progress: the assignment's row changes
    after = await rows()
    for table, (versions, content) in after.items():
        if content == kept[table][1]:
            assert versions == kept[table][0], f"{table}: an unchanged row was written again"
        else:
            assert versions != kept[table][0]
    assert after["document_offices"] == kept["document_offices"] and kept["document_offices"][1]
    assert after["assignments"][1] != kept["assignments"][1]


async def test_a_batch_notifies_once_per_office_with_its_last_seq(db: Any, database: str) -> None:
    from deploy.config.db import connect

    notices: list[dict[str, Any]] = []
    listener = await connect(database)
    await listener.add_listener(FEED_CHANNEL, lambda *a: notices.append(json.loads(a[3])))
    try:
        records = Log().append(Workload(["o1", "o2"], seed=5).events(300))
        await apply_batch(db, records)
        rows = await db.fetch(
            "SELECT office_id, max(seq) AS last, count(*) AS n FROM feed GROUP BY 1 ORDER BY 1"
        )
        await wait_until(lambda: len(notices) >= len(rows), 10, "a notice per office")
    finally:
        await listener.close()
    assert len(rows) == 2 and all(r["n"] > 10 for r in rows)
    assert sorted(notices, key=lambda n: n["office_id"]) == [
        {"office_id": r["office_id"], "seq": r["last"]} for r in rows
    ]
    # the rows carry their own seq in the payload, as the stream sends them
    assert await db.fetchval("SELECT bool_and((payload ->> 'seq')::bigint = seq) FROM feed")


async def test_every_written_column_is_sent_as_its_table_types_it(db: Any) -> None:
    # The batch writer sends each column as an array of COLUMN_TYPES' type (text when not listed): a
    # column a migration adds with another type must be listed, or every batch fails on it.
    from processors.rows import CHILD_TABLES, COLUMN_TYPES, DOCUMENT_COLUMNS, LISTING_COLUMNS

    written = {"documents": DOCUMENT_COLUMNS, "listing": LISTING_COLUMNS}
    written.update({table: columns for table, (_, columns) in CHILD_TABLES.items()})
    rows = await db.fetch(
        """SELECT table_name, column_name, data_type, udt_name FROM information_schema.columns
           WHERE table_schema = 'rm' AND table_name = ANY($1::text[])""",
        list(written),
    )
    types = {(r["table_name"], r["column_name"]): r for r in rows}
    wrong = []
    for table, columns in written.items():
        for column in columns:
            found = types[(table, column)]
            actual = "text[]" if found["data_type"] == "ARRAY" else found["udt_name"]
            actual = {"int4": "integer", "int2": "smallint", "bool": "boolean"}.get(actual, actual)
            if COLUMN_TYPES.get(column, "text") != actual:
                wrong.append(f"{table}.{column}: sent as {COLUMN_TYPES.get(column, 'text')}, is {actual}")
    assert not wrong, wrong


async def test_the_search_index_takes_new_rows_through_a_small_pending_list(db: Any) -> None:
    """0080: new listing rows go to the search index through a pending list of at most 64 kB (direct
    inserts cost half the listing's write time), in `rm` and in every schema a rebuild creates."""
    await db.execute("SELECT public.vanthu_rm_create('rm_pending_check')")
    for schema in ("rm", "rm_pending_check"):
        options = await db.fetchval(
            "SELECT reloptions FROM pg_class WHERE oid = $1::regclass", f"{schema}.listing_search"
        )
        assert set(options) == {"fastupdate=on", "gin_pending_list_limit=64"}, schema


class _Counting:
    """A connection that records the statements sent through it (one round trip each)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sent: list[str] = []

    def _counted(self, name: str) -> Any:
        method = getattr(self.conn, name)

        async def call(*args: Any, **kw: Any) -> Any:
            self.sent.append(f"{name}: {' '.join(str(args[0]).split())[:60]}")
            return await method(*args, **kw)

        return call

    def __getattr__(self, name: str) -> Any:
        if name in ("execute", "executemany", "fetch", "fetchrow", "fetchval", "copy_records_to_table"):
            return self._counted(name)
        return getattr(self.conn, name)


async def test_a_small_live_batch_takes_four_round_trips(db: Any) -> None:
    # With PostgreSQL and the worker on two cores, each round trip of a live batch was 1-2 ms of its
    # latency (tests/bench freshness): it took ten. Now: BEGIN with the swap lock; the offsets locked with
    # the documents' states, dead letters and calendar read; the event ids, rows, offsets and feed; COMMIT.
    log = Log(partitions=1)
    actions = ["register", "submit", "assign", "start", "report_progress", "report_progress"]
    events = _handled("doc-r", actions)
    cache = StateCache()
    await apply_batch(db, log.append(events[:-2]), cache=cache)
    counting = _Counting(db)
    result = await apply_batch(counting, log.append(events[-2:]), cache=cache)
    assert result.applied == 2 and result.notifications > 0
    assert len(counting.sent) == 4, counting.sent
    assert await db.fetchval("SELECT version FROM rm.documents WHERE id = 'doc-r'") == len(events)
    assert await db.fetchval("SELECT count(*) FROM rm.event_ids WHERE document_id = 'doc-r'") == len(events)
    assert await db.fetchval('SELECT "offset" FROM rm.offsets') == len(events) - 1
