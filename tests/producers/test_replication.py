"""Republish the store to an empty topic, restore an empty store from it: same events, same hashes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from deploy.config.db import connect
from producers.audit import verify
from tests.producers.conftest import populate

pytestmark = pytest.mark.timeout(120)

EVENT_COLUMNS = (
    "position, stream_id, version, event_id, type, schema_version, occurred_at, body, prev_hash, hash"
)


def store_cli(dsn: str, bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VANTHU_PG_DSN=dsn, VANTHU_KAFKA_BOOTSTRAP=bootstrap)
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", "store", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


async def test_republish_then_restore_gives_the_same_events_and_hashes(
    pool: asyncpg.Pool[Any],
    database: str,
    other_database: str,
    admin: asyncpg.Connection[Any],
    bootstrap: str,
    new_topic: Callable[..., str],
) -> None:
    await populate(pool, bulk_docs=20, rounds=10)
    topic = new_topic(6)
    out = store_cli(database, bootstrap, "republish", "--topic", topic)
    assert out.returncode == 0, out.stderr
    original = await admin.fetch(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY position")
    assert f"republished {len(original)} events" in out.stdout

    again = store_cli(database, bootstrap, "republish", "--topic", topic)
    assert again.returncode == 1 and "needs an empty topic" in again.stderr

    out = store_cli(other_database, bootstrap, "restore", "--topic", topic)
    assert out.returncode == 0, out.stderr
    assert f"restored {len(original)} events" in out.stdout
    restored_conn = await connect(other_database)
    try:
        restored = await restored_conn.fetch(f"SELECT {EVENT_COLUMNS} FROM events ORDER BY position")
        assert [tuple(r) for r in restored] == [tuple(r) for r in original]
        counters = (
            "SELECT office_id, register, series, period, last_number FROM register_counters "
            "ORDER BY 1, 2, 3, 4"
        )
        assert await restored_conn.fetch(counters) == await admin.fetch(counters)
        report = await verify(restored_conn)
        assert report.ok and report.unanchored == 0, report.problems
        # the restored store takes new positions after the old ones
        assert (
            await restored_conn.fetchval("SELECT nextval('events_position_seq')") > original[-1]["position"]
        )
    finally:
        await restored_conn.close()

    refused = store_cli(other_database, bootstrap, "restore", "--topic", topic)
    assert refused.returncode == 1 and "not empty" in refused.stderr


async def test_idempotency_keys_survive_republish_and_restore(
    pool: asyncpg.Pool[Any], database: str, other_database: str, bootstrap: str, new_topic: Callable[..., str]
) -> None:
    from deploy.config.db import create_pool
    from deploy.config.settings import APP_ROLE, with_user
    from producers.errors import IdempotencyKeyReused
    from tests.producers.conftest import INCOMING, act, create

    first = await create(pool, INCOMING, idempotency_key="create-1")
    acted = await act(pool, first, {"action": "register"}, idempotency_key="register-1")
    topic = new_topic(6)
    assert store_cli(database, bootstrap, "republish", "--topic", topic).returncode == 0
    out = store_cli(other_database, bootstrap, "restore", "--topic", topic)
    assert out.returncode == 0, out.stderr
    restored = await create_pool(with_user(other_database, APP_ROLE))
    try:
        again = await act(restored, first, {"action": "register"}, idempotency_key="register-1")
        assert again.replayed and again.position == acted.position and again.state == acted.state
        assert (
            await create(restored, INCOMING, document_id=first.state.id, idempotency_key="create-1")
        ).replayed
        with pytest.raises(IdempotencyKeyReused):
            await act(restored, first, {"action": "return", "reason": "x"}, idempotency_key="register-1")
    finally:
        await restored.close()


async def test_a_restored_store_knows_the_closed_offices_their_successors_and_the_terms(
    pool: asyncpg.Pool[Any],
    database: str,
    other_database: str,
    admin: asyncpg.Connection[Any],
    bootstrap: str,
    new_topic: Callable[..., str],
) -> None:
    from datetime import UTC, date, datetime

    from deploy.config.db import create_pool
    from deploy.config.settings import APP_ROLE, with_user
    from producers.acts import set_term
    from producers.closing import close_office
    from producers.errors import OfficeClosed
    from schemas.acts import CloseOffice, SetTerm
    from schemas.envelope import Actor
    from tests.producers.conftest import act, create
    from tests.toolkit import OFFICES
    from tests.unit.lifecycle import create_body

    city_admin = Actor(user="admin@tu-hcm", office="tu-hcm", roles=("admin",))
    held = await create(pool, create_body("incoming", "qu-1"))
    held = await act(pool, held, {"action": "register"})  # handed over: numbered in the successor's register
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        term = SetTerm(starts_on=date(2025, 10, 16), label="Nhiệm kỳ 2025–2030")
        await set_term(conn, "phuong-tan-dinh", term, city_admin, now)
        closing = CloseOffice(
            closed_on=date(2025, 6, 30), successors=("phuong-tan-dinh", "phuong-sai-gon"), basis="NQ 1685"
        )
        closed = await close_office(conn, "qu-1", closing, city_admin, now, OFFICES)
    assert closed.handed_over == [held.state.id]

    topic = new_topic(6)
    assert store_cli(database, bootstrap, "republish", "--topic", topic).returncode == 0
    out = store_cli(other_database, bootstrap, "restore", "--topic", topic)
    assert out.returncode == 0, out.stderr
    tables = {
        "office_closures": "SELECT office_id, closed_on, successors, basis, position, closed_at "
        "FROM office_closures ORDER BY 1",
        "office_terms": "SELECT office_id, starts_on, label, position FROM office_terms ORDER BY 1, 2",
        "register_counters": "SELECT office_id, register, series, period, last_number FROM register_counters "
        "ORDER BY 1, 2, 3, 4",
    }
    restored_conn = await connect(other_database)
    try:
        for name, query in tables.items():
            original = await admin.fetch(query)
            assert original, name
            assert await restored_conn.fetch(query) == original, name
        assert {r["office_id"] for r in await restored_conn.fetch("SELECT * FROM register_counters")} == {
            "qu-1",
            "phuong-tan-dinh",
        }
    finally:
        await restored_conn.close()
    # the restored write side refuses what it refused before: a new document in the closed office
    restored = await create_pool(with_user(other_database, APP_ROLE))
    try:
        with pytest.raises(OfficeClosed, match="address phuong-tan-dinh instead"):
            await create(restored, create_body("incoming", "qu-1"))
    finally:
        await restored.close()
