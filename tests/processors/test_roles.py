"""The processors' own role: it writes the read models, their offsets, dead letters, the feed and the
saga's tasks, also in tables later migrations add, and never the event store (events, anchors, snapshots)."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from deploy.config.db import connect, create_pool
from deploy.config.settings import APP_ROLE, PROCESSOR_ROLE, with_user
from deploy.migrate import MIGRATIONS, migrate
from processors.apply import apply_batch
from producers.store import history
from tests.processors.helpers import Log
from tests.producers.conftest import OUTGOING, act, create

pytestmark = pytest.mark.timeout(120)


async def test_the_processors_role_writes_the_read_models_and_cannot_write_an_event_or_snapshot(
    database: str,
) -> None:
    app = await create_pool(with_user(database, APP_ROLE), max_size=2)
    own = await connect(with_user(database, PROCESSOR_ROLE))
    try:
        doc = await create(app, OUTGOING)
        doc = await act(app, doc, {"action": "submit_review"})
        events = [a.envelope for a in await history(app, doc.state.id)]
        # What a live worker does with its connection: documents, event ids, offsets, feed, saga tasks.
        result = await apply_batch(own, Log(partitions=1).append(events))
        assert result.applied == len(events)
        assert await own.fetchval("SELECT version FROM rm.documents WHERE id = $1", doc.state.id) == 2
        assert await own.fetchval("SELECT count(*) FROM public.feed") > 0

        event = await app.fetchrow("SELECT * FROM events WHERE stream_id = $1 AND version = 2", doc.state.id)
        forged = dict(event)
        forged.pop("position")
        forged.update(version=3, event_id=uuid.uuid4())
        cols = ", ".join(forged)
        params = ", ".join(f"${i}" for i in range(1, len(forged) + 1))
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await own.execute(f"INSERT INTO events ({cols}) VALUES ({params})", *forged.values())
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await own.execute(
                "INSERT INTO snapshots (stream_id, version, state, hash) VALUES ($1, 2, $2, $3)",
                doc.state.id,
                doc.state.to_dict(),
                event["hash"],
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await own.execute(
                "INSERT INTO anchors (seq, first_position, last_position, event_count, prev_hash, hash) "
                "VALUES (999, 999000, 999999, 0, '', '')"
            )
        for table in ("events", "snapshots", "anchors", "outbox", "idempotency_keys", "register_counters"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # not even read: it has no need
                await own.fetch(f"SELECT * FROM {table} LIMIT 1")
    finally:
        await own.close()
        await app.close()


async def test_tables_a_later_migration_adds_are_the_processors_unless_they_are_the_write_sides(
    database: str, tmp_path: Path
) -> None:
    for f in sorted(MIGRATIONS.glob("*.sql")):
        (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "9001_later.sql").write_text(
        "CREATE TABLE rm.later_counts (office_id text PRIMARY KEY, n integer NOT NULL);\n"
        "CREATE TABLE public.later_listing (id bigserial PRIMARY KEY, office_id text NOT NULL);\n"
        "CREATE TABLE public.later_write_side (id text PRIMARY KEY);\n"
        "GRANT SELECT, INSERT ON public.later_write_side TO vanthu_app;\n"
    )
    owner = await connect(database)
    own = await connect(with_user(database, PROCESSOR_ROLE))
    try:
        assert await migrate(owner, tmp_path) == ["9001_later"]
        await own.execute("INSERT INTO rm.later_counts VALUES ('tu-hcm', 1)")
        await own.execute("UPDATE rm.later_counts SET n = n + 1")
        assert await own.fetchval("INSERT INTO public.later_listing (office_id) VALUES ('q1') RETURNING id")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await own.execute("INSERT INTO public.later_write_side VALUES ('x')")
        # A rebuild's fresh schema (vanthu_rm_create) is the processors' too once it is swapped in.
        await owner.execute("SELECT public.vanthu_rm_create('rm_fresh')")
        await owner.execute("SELECT public.vanthu_processor_schema_grants('rm_fresh')")
        await own.execute("INSERT INTO rm_fresh.event_ids VALUES ('d', 1, gen_random_uuid(), '')")
    finally:
        await own.close()
        await owner.close()
