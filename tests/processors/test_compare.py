"""`vanthu audit compare`: real documents in the store, republished to a real topic, applied to the read
models; then records forged onto the topic for real documents, and each one named."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from deploy.config.db import create_pool
from deploy.config.settings import APP_ROLE, Settings, with_user
from processors.apply import apply_batch
from processors.compare import compare
from processors.deadletters import list_dead_letters
from processors.records import Record, headers_dict
from producers.replication import republish
from producers.store import history
from tests.producers.bulk import read_topic
from tests.producers.conftest import ASSIGN, TASK, act, create

pytestmark = pytest.mark.timeout(180)


def records(bootstrap: str, topic: str, after: dict[int, int]) -> list[Record]:
    """The topic's records past the offsets in `after` (partition -> last consumed), as consumed."""
    out = []
    for r in read_topic(bootstrap, topic):
        if r.offset > after.get(r.partition, -1):
            out.append(Record(r.topic, r.partition, r.offset, r.key, r.value, headers_dict(r.headers)))
            after[r.partition] = r.offset
    return out


def compare_cli(database: str, topic: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, VANTHU_PG_DSN=database, VANTHU_EVENTS_TOPIC=topic)
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", "audit", "compare"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


async def test_forged_records_on_the_topic_are_named_and_none_changes_a_read_model_silently(
    database: str, db: Any, bootstrap: str, settings: Settings
) -> None:
    from kafka import KafkaProducer

    pool = await create_pool(with_user(database, APP_ROLE))
    try:
        a = await act(
            pool,
            await act(pool, await create(pool, TASK), ASSIGN),
            {"action": "report_progress", "percent": 10},
        )
        b = await act(pool, await create(pool, TASK), ASSIGN)
        topic = f"test.compare.{uuid.uuid4().hex[:12]}"
        await republish(db, bootstrap, topic, 3)
        consumed: dict[int, int] = {}
        assert (await apply_batch(db, records(bootstrap, topic, consumed))).applied == 5
        clean = await compare(db, bootstrap, topic)
        assert clean.ok and clean.documents == clean.matching == 2, clean.differences
        assert compare_cli(database, topic).returncode == 0

        # Forged: a next version of A the store never had, and another event at B's version 1.
        last_a = (await history(db, a.state.id))[-1].envelope
        ahead = dataclasses.replace(
            last_a, event_id=uuid.uuid4(), version=last_a.version + 1, data={**last_a.data, "percent": 100}
        )
        first_b = (await history(db, b.state.id))[0].envelope
        twin = dataclasses.replace(first_b, event_id=uuid.uuid4())
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        for forged in (ahead, twin):
            producer.send(topic, key=forged.stream_id.encode(), value=forged.to_json())
        producer.flush()
        producer.close()
        result = await apply_batch(db, records(bootstrap, topic, consumed))
        assert (result.applied, result.dead) == (1, 1)  # the twin is a dead letter, not a duplicate
        [letter] = await list_dead_letters(db)
        assert (letter["document_id"], letter["reason"]) == (b.state.id, "conflict")

        report = await compare(db, bootstrap, topic)
        # The twin was refused already (a dead letter, counted); the record ahead was applied: named.
        assert not report.ok and report.matching == 1 and report.dead_lettered == 1
        [different] = report.differences
        assert different.document_id == a.state.id
        assert different.store is not None and different.store.version == last_a.version
        assert different.read_models is not None and different.read_models.event_id == str(ahead.event_id)
        cli = compare_cli(database, topic)
        assert cli.returncode == 1
        assert f"{a.state.id}: store v{last_a.version} {last_a.event_id}" in cli.stdout, cli.stdout
        assert "1 dead-lettered" in cli.stdout

        # Had the read models not refused it, the twin is named as a second event at v1 on the topic.
        await db.execute("DELETE FROM rm.dead_letters")
        again = await compare(db, bootstrap, topic)
        assert any("the topic holds two events at v1" in d.detail for d in again.differences)
    finally:
        await pool.close()
