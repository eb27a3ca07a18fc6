"""`vanthu audit verify` as an auditor runs it, against a store tampered with behind the role's back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import asyncpg
import pytest

from producers.anchoring import anchor
from producers.audit import verify
from tests.producers.conftest import populate

pytestmark = pytest.mark.timeout(120)


def audit_cli(dsn: str) -> subprocess.CompletedProcess[str]:
    # No signing key: the store is checked on its own (tests/producers/test_witness.py adds the witness).
    env = dict(os.environ, VANTHU_PG_DSN=dsn, VANTHU_ANCHOR_KEY_FILE="/nonexistent/anchor.key")
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
async def store(pool: asyncpg.Pool[Any], admin: asyncpg.Connection[Any]) -> dict[str, Any]:
    ids = await populate(pool, bulk_docs=30, rounds=20)  # ~3,000 events, 4 anchors
    async with pool.acquire() as conn:
        assert len(await anchor(conn, force=True)) >= 3
    return ids


async def tamper(admin: asyncpg.Connection[Any], *statements: str, args: tuple[Any, ...] = ()) -> None:
    """Change the store as a superuser who switched the append-only triggers off on purpose."""
    async with admin.transaction():
        await admin.execute("SET LOCAL session_replication_role = replica")
        for sql in statements:
            await admin.execute(sql, *args)


async def event(admin: asyncpg.Connection[Any], stream_id: str, version: int) -> int:
    position: int = await admin.fetchval(
        "SELECT position FROM events WHERE stream_id = $1 AND version = $2", stream_id, version
    )
    return position


async def test_an_untouched_store_verifies(store: dict[str, Any], database: str, admin: Any) -> None:
    started = time.monotonic()
    result = audit_cli(database)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok: ")
    report = await verify(admin)
    print(f"\n{result.stdout.strip()} (CLI {time.monotonic() - started:.2f}s incl. start-up)")
    assert report.ok and report.events > 3000 and report.unanchored == 0


async def test_altered_data_is_located(store: dict[str, Any], database: str, admin: Any) -> None:
    doc = store["bulk"][7]
    position = await event(admin, doc, 42)
    await tamper(
        admin,
        "UPDATE events SET body = convert_to(replace(convert_from(body, 'UTF8'), 'bước', 'buoc'), 'UTF8') "
        "WHERE position = $1",
        args=(position,),
    )
    result = audit_cli(database)
    assert result.returncode == 1
    assert f"first: altered at position {position}: {doc} v42" in result.stdout, result.stdout


async def test_altered_data_with_its_hashes_recomputed_is_caught_by_the_anchor(
    store: dict[str, Any], database: str, admin: Any
) -> None:
    from producers.hashing import event_hash

    doc = store["bulk"][3]
    rows = await admin.fetch(
        "SELECT position, body, prev_hash FROM events WHERE stream_id = $1 ORDER BY version", doc
    )
    prev = bytes(rows[0]["prev_hash"])
    async with admin.transaction():
        await admin.execute("SET LOCAL session_replication_role = replica")
        for i, row in enumerate(rows):
            body = bytes(row["body"]).replace("bước".encode(), b"buoc") if i == 10 else bytes(row["body"])
            digest = event_hash(prev, body)
            await admin.execute(
                "UPDATE events SET body = $2, prev_hash = $3, hash = $4 WHERE position = $1",
                row["position"],
                body,
                prev,
                digest,
            )
            prev = digest
    result = audit_cli(database)
    assert result.returncode == 1
    assert "first: anchor at position" in result.stdout and "hash does not match" in result.stdout, (
        result.stdout
    )


async def test_a_deleted_event_is_located(store: dict[str, Any], database: str, admin: Any) -> None:
    doc = store["bulk"][11]
    position = await event(admin, doc, 55)
    await tamper(admin, "DELETE FROM events WHERE position = $1", args=(position,))
    result = audit_cli(database)
    assert result.returncode == 1
    assert f"first: missing at position {position}" in result.stdout, result.stdout
    assert f"{doc}: v55..v55 missing" in result.stdout


async def test_a_deleted_document_is_located(store: dict[str, Any], database: str, admin: Any) -> None:
    doc = store["issued"]
    first = await event(admin, doc, 1)
    await tamper(admin, "DELETE FROM events WHERE stream_id = $1", args=(doc,))
    result = audit_cli(database)
    assert result.returncode == 1
    assert f"first: missing at position {first}" in result.stdout, result.stdout


async def test_two_swapped_events_are_located(store: dict[str, Any], database: str, admin: Any) -> None:
    doc = store["bulk"][20]
    p2, p3 = await event(admin, doc, 2), await event(admin, doc, 3)
    await tamper(admin, "UPDATE events SET position = -1 WHERE position = $1", args=(p2,))
    await tamper(admin, "UPDATE events SET position = $1 WHERE position = $2", args=(p2, p3))
    await tamper(admin, "UPDATE events SET position = $1 WHERE position = -1", args=(p3,))
    result = audit_cli(database)
    assert result.returncode == 1
    assert f"first: reordered at position {p2}: {doc}: v2 at position {p3} comes after v3" in result.stdout, (
        result.stdout
    )


async def test_an_altered_occurred_at_is_located(store: dict[str, Any], database: str, admin: Any) -> None:
    doc = store["bulk"][5]
    position = await event(admin, doc, 30)
    # `as_of` reads filter on this column: moved a day back, the event would show in yesterday's state.
    await tamper(
        admin,
        "UPDATE events SET occurred_at = occurred_at - interval '1 day' WHERE position = $1",
        args=(position,),
    )
    result = audit_cli(database)
    assert result.returncode == 1
    assert f"first: altered at position {position}: {doc} v30" in result.stdout, result.stdout
    assert "differs from its hashed body" in result.stdout


async def test_a_changed_event_type_column_is_located(
    store: dict[str, Any], database: str, admin: Any
) -> None:
    doc = store["bulk"][6]
    position = await event(admin, doc, 3)
    await tamper(admin, "UPDATE events SET type = 'DocumentCancelled' WHERE position = $1", args=(position,))
    result = audit_cli(database)
    assert result.returncode == 1
    assert f"first: altered at position {position}: {doc} v3" in result.stdout, result.stdout


async def test_an_altered_snapshot_is_found_and_one_off_the_chain_is_not_used(
    pool: asyncpg.Pool[Any], database: str, admin: Any
) -> None:
    from producers.store import load
    from tests.producers.conftest import ASSIGN, TASK, act, create

    doc = await act(pool, await create(pool, TASK), ASSIGN)
    for i in range(101):
        doc = await act(pool, doc, {"action": "report_progress", "percent": i % 101})
    stream = doc.state.id
    assert await admin.fetchval("SELECT count(*) FROM snapshots WHERE stream_id = $1", stream) == 1
    assert audit_cli(database).returncode == 0
    await tamper(
        admin,
        "UPDATE snapshots SET state = jsonb_set(state, '{title}', '\"Giả mạo\"') WHERE stream_id = $1",
        args=(stream,),
    )
    result = audit_cli(database)
    assert result.returncode == 1
    assert (
        "snapshot at position" in result.stdout
        and f"{stream}: the snapshot at v100 is not its events" in (result.stdout)
    ), result.stdout
    # A snapshot that does not name its event's hash is passed over: the state comes from the events.
    await tamper(admin, "UPDATE snapshots SET hash = '\\x00'::bytea WHERE stream_id = $1", args=(stream,))
    async with pool.acquire() as conn:
        assert (await load(conn, stream)).state == doc.state


async def test_a_forged_snapshot_naming_its_events_hash_is_not_used_and_the_services_cannot_add_one(
    pool: asyncpg.Pool[Any], admin: Any
) -> None:
    from producers.store import load
    from tests.producers.conftest import ASSIGN, TASK, act, create

    doc = await act(pool, await create(pool, TASK), ASSIGN)
    for i in range(101):
        doc = await act(pool, doc, {"action": "report_progress", "percent": i % 101})
    stream = doc.state.id
    real = await admin.fetchrow("SELECT state, hash FROM snapshots WHERE stream_id = $1", stream)
    assert real is not None  # saved by the store, as the services' role, with the append of v100
    async with pool.acquire() as conn:
        assert (await load(conn, stream)).state == doc.state  # proven once, then trusted
        forged = {**real["state"], "title": "Giả mạo", "office_id": "qu-1"}
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO snapshots (stream_id, version, state, hash) VALUES ($1, 101, $2, $3)",
                stream,
                {**forged, "version": 101},
                real["hash"],
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="only by the transaction"):
            await conn.execute(
                "SELECT public.vanthu_save_snapshot($1, 101, $2)", stream, {**forged, "version": 101}
            )

    # Whoever can write the table anyway (the owner) puts a forged state behind the right hash.
    await tamper(admin, "UPDATE snapshots SET state = $2 WHERE stream_id = $1", args=(stream, forged))
    async with pool.acquire() as conn:
        loaded = await load(conn, stream)
    assert loaded.state == doc.state and loaded.state.office_id == "tu-hcm"
