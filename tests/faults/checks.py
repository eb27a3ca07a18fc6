"""The checks after a fault run: whether anything acknowledged was lost, duplicated or left behind."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from deploy.config.settings import Settings
from tests.faults.workload import Ack
from tests.toolkit.waiting import wait_until


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        return {tp.partition: o for tp, o in c.end_offsets(tps).items()}
    finally:
        c.close()


def topic_events(bootstrap: str, topic: str) -> tuple[dict[str, list[int]], int, dict[tuple[int, int], str]]:
    """Each document's versions in topic order (first occurrences), how many records were resent, and
    the records that did not come from the relay ((partition, offset): a short description)."""
    from kafka import KafkaConsumer, TopicPartition

    from schemas.envelope import Envelope

    ends = end_offsets(bootstrap, topic)
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    seen: dict[str, list[int]] = {}
    resent = 0
    others: dict[tuple[int, int], str] = {}
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        while any(c.position(tp) < ends[tp.partition] for tp in tps):
            for records in c.poll(timeout_ms=500, max_records=5000).values():
                for r in records:
                    if not any(k == "position" for k, _ in r.headers or ()):
                        size = "none" if r.value is None else len(r.value)
                        others[(r.partition, r.offset)] = f"key={r.key!r:.60} size={size} {r.value!r:.60}"
                        continue  # not from the relay (a poison record)
                    env = Envelope.from_json(r.value)
                    versions = seen.setdefault(env.stream_id, [])
                    if env.version in versions:
                        resent += 1
                    else:
                        versions.append(env.version)
    finally:
        c.close()
    return seen, resent, others


@dataclass
class Verdict:
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    read_model_mismatches: int = 0
    dead_lettered: int = 0
    stored_events: int = 0
    not_on_topic: int = 0
    out_of_order_on_topic: int = 0
    resent_by_relay: int = 0
    read_models_behind_store: int = 0
    committed_without_answer: int = 0
    real_documents_dead_lettered: int = 0
    compare_mismatches: int = -1  # `vanthu audit compare`: documents whose store, topic and rm differ
    audit_ok: bool = False
    audit: str = ""
    details: list[str] = field(default_factory=list)


async def settle(settings: Settings, within: float = 240, quiet_s: float = 2.0) -> None:
    """Wait until the relay has published everything and the processor applied everything, and nothing new
    came for `quiet_s` (the saga and the chaser write more events as they see earlier ones)."""
    from deploy.config.db import connect

    conn = await connect(settings.dsn)
    try:
        since = time.monotonic()  # when the counts last changed, or the copies were last apart
        last: tuple[Any, ...] = ()

        async def quiet() -> bool:
            nonlocal since, last
            outbox = await conn.fetchval("SELECT count(*) FROM outbox")
            store = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
            applied = await conn.fetchval(
                """SELECT coalesce(sum("offset" + 1), 0) FROM rm.offsets WHERE topic = $1""",
                settings.events_topic,
            )
            ends = await asyncio.to_thread(end_offsets, settings.bootstrap, settings.events_topic)
            now = (outbox, store, applied, sum(ends.values()))
            caught_up = outbox == 0 and applied == sum(ends.values())
            if not caught_up or now != last:
                since = time.monotonic()
            last = now
            return time.monotonic() - since >= quiet_s

        await wait_until(
            quiet, within, "the relay and the processor to catch up", every=0.2, ignoring=(OSError,)
        )
    finally:
        await conn.close()


async def compare_quiet(settings: Settings, quiet_s: float) -> tuple[int, list[str]]:
    """`vanthu audit compare` once the relay and the processor have caught up and stayed idle `quiet_s`
    (the caller has stopped the workload): its mismatches and the first differences it names."""
    from deploy.config.db import connect
    from processors.compare import compare

    await settle(settings, quiet_s=quiet_s)
    conn = await connect(settings.dsn)
    try:
        report = await compare(conn, settings.bootstrap, settings.events_topic)
    finally:
        await conn.close()
    return report.mismatches, [f"compare: {d.describe()}" for d in report.differences[:10]]


async def verify(settings: Settings, acks: list[Ack], poison_sent: int) -> Verdict:
    from deploy.config.db import connect
    from processors.compare import compare
    from processors.rebuild import differences, rebuild

    v = Verdict(acknowledged=len(acks))
    conn = await connect(settings.dsn)
    try:
        rows = await conn.fetch(
            """SELECT stream_id, version, position,
                      convert_from(body, 'UTF8')::jsonb ->> 'idempotency_key' AS key
               FROM events ORDER BY position"""
        )
        v.stored_events = len(rows)
        by_key: dict[str, list[int]] = {}
        versions: dict[str, set[int]] = {}
        for r in rows:
            versions.setdefault(r["stream_id"], set()).add(r["version"])
            if r["key"]:
                by_key.setdefault(r["key"], []).append(r["version"])
        acked_keys = set()
        for a in acks:
            acked_keys.add(a.key)
            got = sorted(by_key.get(a.key, []))
            if a.version not in versions.get(a.document_id, set()) or not got:
                v.lost += 1
                v.details.append(f"lost: {a.action} on {a.document_id} v{a.version}")
            elif got[-1] != a.version or got != list(range(got[0], got[-1] + 1)):
                v.duplicated += 1
                v.details.append(f"duplicated: {a.action} on {a.document_id}: versions {got}")
        users = {k.partition("\x1f")[0] for k in acked_keys}
        unanswered = {k for k in set(by_key) - acked_keys if k.partition("\x1f")[0] in users}
        v.committed_without_answer = len(unanswered)  # the client gave up on them (none should be)

        topic, resent, others = await asyncio.to_thread(
            topic_events, settings.bootstrap, settings.events_topic
        )
        v.resent_by_relay = resent
        for stream, stored in versions.items():
            on_topic = topic.get(stream, [])
            v.not_on_topic += len(stored - set(on_topic))
            if on_topic != sorted(on_topic):
                v.out_of_order_on_topic += 1
                v.details.append(f"out of order on the topic: {stream} {on_topic}")

        behind = await conn.fetch(
            """SELECT e.stream_id FROM (SELECT stream_id, max(version) AS v FROM events GROUP BY stream_id) e
               LEFT JOIN rm.documents d ON d.id = e.stream_id
               WHERE d.version IS DISTINCT FROM e.v"""
        )
        v.read_models_behind_store = len(behind)
        letters = await conn.fetch('SELECT partition, "offset" FROM rm.dead_letters')
        v.dead_lettered = len(letters)
        for where in set(others) - {(r["partition"], r["offset"]) for r in letters}:
            v.details.append(f"not dead-lettered: {others[where]}")
        v.real_documents_dead_lettered = await conn.fetchval(
            """SELECT count(*) FROM rm.dead_letters d
               WHERE d.reason <> 'undecodable'
                 AND EXISTS (SELECT 1 FROM events e WHERE e.stream_id = d.document_id)"""
        )
        target = f"rm_check_{uuid.uuid4().hex[:8]}"
        await rebuild(settings.dsn, settings.bootstrap, settings.events_topic, target=target, swap=False)
        diff = await differences(conn, "rm", target)
        v.read_model_mismatches = sum(diff.values())
        if diff:
            v.details.append(f"read models differ from a rebuild: {diff}")
        await conn.execute(f"DROP SCHEMA {target} CASCADE")
        compared = await compare(conn, settings.bootstrap, settings.events_topic)
        v.compare_mismatches = compared.mismatches
        v.details += [f"compare: {d.describe()}" for d in compared.differences[:10]]
    finally:
        await conn.close()
    audit = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "deploy.cli", "audit", "verify"],
        env=dict(  # the store, and the witness its relay signed for this topic
            os.environ,
            VANTHU_PG_DSN=settings.dsn,
            VANTHU_EVENTS_TOPIC=settings.events_topic,
            VANTHU_KAFKA_BOOTSTRAP=settings.bootstrap,
            VANTHU_ANCHOR_KEY_FILE=str(settings.anchor_key_path),
            VANTHU_WITNESS_FILE=str(settings.witness_path),
        ),
        capture_output=True,
        text=True,
    )
    v.audit_ok = audit.returncode == 0
    v.audit = (audit.stdout + audit.stderr).strip().splitlines()[0] if audit.stdout or audit.stderr else ""
    if poison_sent and v.dead_lettered != poison_sent:
        v.details.append(f"{poison_sent} poison records sent, {v.dead_lettered} dead letters")
    return v
