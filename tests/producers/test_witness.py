"""The anchors' witnesses outside the database: what the database's owner can do to the store and its
anchors, and how `vanthu audit verify` still names it from the signed statements on the topic and in the
operator's copy of the witness file."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from producers.anchoring import anchor
from producers.hashing import event_hash
from producers.relay import Relay
from producers.witness import Witness, ensure_key, read_file, read_topic
from tests.producers.conftest import populate
from tests.producers.test_audit import tamper
from tests.toolkit.waiting import wait_until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def witness(tmp_path: Path, bootstrap: str, app_dsn: str) -> Witness:
    topic = f"test.anchors.{uuid.uuid4().hex[:12]}"
    return Witness(app_dsn, bootstrap, topic, tmp_path / "witness.json", ensure_key(tmp_path / "signing.key"))


def verify_cli(database: str, witness: Witness, *extra: str) -> subprocess.CompletedProcess[str]:
    key = witness.file.parent / "signing.key"
    env = dict(
        os.environ,
        VANTHU_PG_DSN=database,
        VANTHU_ANCHORS_TOPIC=witness.topic,
        VANTHU_WITNESS_FILE=str(witness.file),
        VANTHU_ANCHOR_KEY_FILE=str(key),
    )
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", "audit", "verify", *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.fixture
async def store(pool: asyncpg.Pool[Any]) -> dict[str, Any]:
    ids = await populate(pool, bulk_docs=20, rounds=10)  # ~1,000 events
    async with pool.acquire() as conn:
        assert await anchor(conn, force=True)
    return ids


async def test_an_untouched_store_verifies_against_its_signed_witness(
    store: dict[str, Any], database: str, pool: asyncpg.Pool[Any], witness: Witness
) -> None:
    async with pool.acquire() as conn:
        await witness.once(conn)
    result = verify_cli(database, witness)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "signed statements checked" in result.stdout, result.stdout


async def test_the_newest_10_events_deleted_with_their_anchors_are_named_as_truncation(
    store: dict[str, Any], database: str, pool: asyncpg.Pool[Any], admin: Any, witness: Witness
) -> None:
    async with pool.acquire() as conn:
        await witness.once(conn)  # every anchor signed and on the topic
    newest = [
        r["position"]
        for r in await admin.fetch("SELECT position FROM events ORDER BY position DESC LIMIT 10")
    ]
    cut = newest[-1]
    # The owner deletes the events and every anchor over them, winds the sequence back and anchors anew:
    # the store's own chain and anchors are consistent again.
    await tamper(
        admin,
        "DELETE FROM events WHERE position >= $1",
        "DELETE FROM anchors WHERE last_position >= $1",
        "DELETE FROM outbox WHERE position >= $1",
        args=(cut,),
    )
    await admin.execute("SELECT setval('events_position_seq', $1)", cut - 1)
    await anchor(admin, force=True)
    os.unlink(witness.file)  # the file on the database's machine is gone too; the topic remains
    plain = verify_cli(database, witness, "--no-topic")
    assert plain.returncode == 0, "the database alone cannot tell: " + plain.stdout
    result = verify_cli(database, witness)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"first: truncated at position {cut}: the newest events were removed" in result.stdout, (
        result.stdout
    )
    assert f"now end at position {cut - 1}" in result.stdout


async def test_the_newest_unanchored_events_deleted_are_named_by_the_head(
    store: dict[str, Any], database: str, pool: asyncpg.Pool[Any], admin: Any, witness: Witness
) -> None:
    from tests.producers.bulk import Streams

    async with pool.acquire() as conn:
        await Streams(2).append_round(conn, 10)  # 20 events after the last anchor
        signed = await witness.once(conn)
    head = next(s for s in signed if s.kind == "head")
    assert head.anchor.event_count == 20
    newest = [
        r["position"]
        for r in await admin.fetch("SELECT position FROM events ORDER BY position DESC LIMIT 10")
    ]
    await tamper(admin, "DELETE FROM events WHERE position >= $1", args=(newest[-1],))
    copy = witness.file.parent / "copied-elsewhere.json"
    shutil.copy(witness.file, copy)
    result = verify_cli(database, witness, "--no-topic", "--witness-file", str(copy))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"first: truncated at position {newest[-1]}" in result.stdout, result.stdout
    assert f"positions {newest[-1]}..{newest[0]} (10 events) are gone" in result.stdout


async def test_a_rewrite_with_every_hash_and_anchor_recomputed_disagrees_with_the_signed_anchors(
    store: dict[str, Any], database: str, pool: asyncpg.Pool[Any], admin: Any, witness: Witness
) -> None:
    async with pool.acquire() as conn:
        await witness.once(conn)
    doc = store["bulk"][3]
    rows = await admin.fetch(
        "SELECT position, body, prev_hash FROM events WHERE stream_id = $1 ORDER BY version", doc
    )
    prev = bytes(rows[0]["prev_hash"])
    async with admin.transaction():
        await admin.execute("SET LOCAL session_replication_role = replica")
        for i, row in enumerate(rows):
            body = bytes(row["body"]).replace("bước".encode(), b"buoc") if i == 5 else bytes(row["body"])
            assert i != 5 or body != bytes(row["body"])
            digest = event_hash(prev, body)
            await admin.execute(
                "UPDATE events SET body = $2, prev_hash = $3, hash = $4 WHERE position = $1",
                row["position"],
                body,
                prev,
                digest,
            )
            prev = digest
        await admin.execute("DELETE FROM anchors")
    await anchor(admin, force=True)
    plain = verify_cli(database, witness, "--no-topic", "--witness-file", "/nonexistent")
    assert plain.returncode == 0, "the database alone cannot tell: " + plain.stdout
    result = verify_cli(database, witness)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the store's anchor differs from the one signed" in result.stdout, result.stdout


async def test_a_statement_signed_with_another_key_is_refused(
    store: dict[str, Any], database: str, pool: asyncpg.Pool[Any], witness: Witness, tmp_path: Path
) -> None:
    async with pool.acquire() as conn:
        await witness.once(conn)
    forger = Witness(
        witness.dsn, witness.bootstrap, witness.topic, witness.file, ensure_key(tmp_path / "other.key")
    )
    async with pool.acquire() as conn:
        await forger.once(conn)
    result = verify_cli(database, witness)
    assert result.returncode == 1
    assert "its signature does not verify" in result.stdout, result.stdout


async def test_the_relay_signs_a_head_every_few_seconds_while_idle(
    store: dict[str, Any], app_dsn: str, bootstrap: str, witness: Witness, new_topic: Any
) -> None:
    witness.interval_s = 0.2
    stop = asyncio.Event()
    relay = Relay(app_dsn, bootstrap, new_topic(1), witness=witness)
    running = asyncio.create_task(relay.run(stop))
    try:
        await wait_until(lambda: witness.rounds >= 3, within=60, what="three rounds of the witness")
        heads = [s for s in (read_topic(bootstrap, witness.topic) or []) if s.kind == "head"]
        assert heads and heads[-1].anchor.last_position >= heads[-1].anchor.first_position - 1
        assert read_file(witness.file)[-1].kind == "head"
    finally:
        stop.set()
        await running


async def test_while_kafka_is_away_anchors_and_heads_are_still_signed_into_the_file(
    store: dict[str, Any], admin: Any, witness: Witness
) -> None:
    witness.bootstrap, witness.interval_s = "127.0.0.1:1", 0.2  # nothing listens there
    stop = asyncio.Event()
    running = asyncio.create_task(witness.run(stop))
    try:
        first = await wait_until(lambda: read_file(witness.file), within=60, what="a witness file")
        await wait_until(
            lambda: read_file(witness.file)[-1].at > first[-1].at, within=60, what="a newer head in the file"
        )
        assert read_file(witness.file)[0].anchor.seq == await admin.fetchval("SELECT max(seq) FROM anchors")
    finally:
        stop.set()
        await running


async def test_the_anchors_topic_is_as_durable_as_the_events_topic_on_the_3_broker_cluster(
    cluster: Any, pool: asyncpg.Pool[Any], app_dsn: str, tmp_path: Path
) -> None:
    from producers.topics import durability, ensure_topic

    bootstrap = cluster.cluster_bootstrap
    events = f"test.events.{uuid.uuid4().hex[:12]}"
    ensure_topic(bootstrap, events, 2, 3, configs={"min.insync.replicas": "2"})
    witness = Witness(
        app_dsn,
        bootstrap,
        f"{events}.anchors",
        tmp_path / "witness.json",
        ensure_key(tmp_path / "signing.key"),
        events_topic=events,
    )
    await populate(pool, bulk_docs=2, rounds=2)
    async with pool.acquire() as conn:
        await witness.once(conn)
    assert durability(bootstrap, witness.topic) == (3, {"min.insync.replicas": "2"})
    assert read_topic(bootstrap, witness.topic)  # the signed statements are on it
