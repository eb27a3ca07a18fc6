"""The real worker process on the real broker: live equals rebuild, kill -9, two workers, latency."""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import threading
import time
from collections import Counter
from typing import Any

import pytest

from deploy.config.db import connect
from processors.rebuild import differences, rebuild
from tests.processors.conftest import Producer, Workers
from tests.processors.workload import Workload, incoming_body, story
from tests.toolkit.readmodels import applied
from tests.toolkit.waiting import wait_until

OFFICES = [f"o{i}" for i in range(1, 9)]


class Feed:
    """LISTENs to the feed channel (one notice per office and batch, with the office's last seq), reads
    each noticed office's new feed rows and counts every row."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.seen: Counter[tuple[str, str, int]] = Counter()
        self.arrived: dict[tuple[str, int], float] = {}
        self.read: dict[str, int] = {}
        self.lock = asyncio.Lock()
        self.reads: set[asyncio.Task[None]] = set()

    def on_notify(self, conn: Any, pid: int, channel: str, payload: object) -> None:
        p = json.loads(str(payload))
        task = asyncio.get_running_loop().create_task(self.catch_up([p["office_id"]]))
        self.reads.add(task)
        task.add_done_callback(self.reads.discard)

    async def catch_up(self, offices: list[str] | None = None) -> None:
        async with self.lock:
            if offices is None:
                offices = [
                    r["office_id"] for r in await self.conn.fetch("SELECT office_id FROM feed_counters")
                ]
            for office in offices:
                rows = await self.conn.fetch(
                    "SELECT seq, document_id, version FROM feed WHERE office_id = $1 AND seq > $2 "
                    "ORDER BY seq",
                    office,
                    self.read.get(office, 0),
                )
                now = time.monotonic()
                for r in rows:
                    self.seen[(office, r["document_id"], r["version"])] += 1
                    self.arrived.setdefault((r["document_id"], r["version"]), now)
                    self.read[office] = r["seq"]

    async def close(self) -> None:
        """Read what is left, then stop listening."""
        await asyncio.gather(*self.reads)
        await self.catch_up()
        await self.conn.close()


async def _listen(dsn: str) -> tuple[Any, Feed]:
    conn = await connect(dsn)
    feed = Feed(conn)
    await conn.add_listener("vanthu_feed", feed.on_notify)
    return feed, feed


async def _caught_up(db: Any, topic: str, total: int, within: float = 120) -> None:
    async def done() -> bool:
        return await applied(db, topic) >= total

    await wait_until(done, within, f"{total} records applied", every=0.2)


async def _equal_to_rebuild(workers: Workers, db: Any, target: str = "rm_check") -> None:
    result = await rebuild(workers.dsn, workers.bootstrap, workers.topic, target=target, swap=False)
    assert result.events > 0
    assert await differences(db, "rm", target) == {}


async def test_live_read_models_equal_a_rebuild_and_each_event_reaches_the_feed(
    workers: Workers, producer: Producer, db: Any
) -> None:
    workers.worker("w1").start()
    listener, feed = await _listen(workers.dsn)
    events = list(Workload(OFFICES, seed=11).events(12_000))
    sent = 0
    for i in range(0, len(events), 1000):  # a mixed workload arriving while the worker runs
        sent += producer.send(events[i : i + 1000])
        await asyncio.sleep(0.1)
    await _caught_up(db, workers.topic, sent)

    latencies = []
    for n in range(15):
        [e] = story(f"latency-{n}", incoming_body("o1"), [])
        t0 = time.monotonic()
        producer.send([e])
        key = (e.stream_id, 1)
        await wait_until(lambda k=key: k in feed.arrived, 10, "the feed notification", every=0.001)  # type: ignore[misc]
        latencies.append((feed.arrived[key] - t0) * 1000)
    median = statistics.median(latencies)
    # Reported, not asserted: speed is the freshness benchmark's (`make bench`), never a timed assertion
    # (this one failed whenever the machine was busy: median 132–142 ms at load average 3, old code too).
    print(f"\nproduce-to-read-model latency: median {median:.1f} ms, max {max(latencies):.1f} ms")
    await listener.close()
    await _equal_to_rebuild(workers, db)
    assert all(n == 1 for n in feed.seen.values())


async def _more(db: Any, topic: str, than: int) -> bool:
    return await applied(db, topic) > than


async def test_rebuild_swaps_in_while_the_worker_keeps_applying(
    workers: Workers, producer: Producer, db: Any
) -> None:
    workers.worker("w1").start()
    events = list(Workload(OFFICES, seed=12).events(8_000))
    sent = producer.send(events[:5000])
    await _caught_up(db, workers.topic, sent)
    progress: list[str] = []
    more = threading.Thread(
        target=lambda: [producer.send(events[i : i + 500]) for i in range(5000, 8000, 500)]
    )
    more.start()  # writes keep arriving during the rebuild and its swap
    result = await rebuild(
        workers.dsn,
        workers.bootstrap,
        workers.topic,
        keep_old=True,
        progress=lambda p: progress.append(str(p)),
    )
    more.join()
    assert result.swapped and result.old_schema and progress and "events" in progress[-1]
    await _caught_up(db, workers.topic, len(events))
    await _equal_to_rebuild(workers, db, "rm_check2")


@pytest.mark.slow
async def test_kill_9_ten_times_during_50000_events_loses_nothing_and_applies_nothing_twice(
    workers: Workers, producer: Producer, db: Any
) -> None:
    events = list(Workload(OFFICES, seed=13).events(50_000))
    listener, feed = await _listen(workers.dsn)
    worker = workers.worker("w1", VANTHU_PROCESSOR_INSTANCE_ID="w1").start()

    def produce() -> None:
        for i in range(0, len(events), 500):
            producer.send(events[i : i + 500])
            time.sleep(0.3)

    feeder = threading.Thread(target=produce)
    feeder.start()
    rng = random.Random(5)
    started = time.monotonic()
    kills_mid_stream = 0
    for _ in range(10):
        # Kill at a random moment once this incarnation is applying records, not while it starts up.
        before = await applied(db, workers.topic)
        await wait_until(lambda b=before: _more(db, workers.topic, b), 60, "the restarted worker applying")  # type: ignore[misc]
        await asyncio.sleep(rng.uniform(0.0, 0.6))
        kills_mid_stream += feeder.is_alive()
        worker.kill()
        worker.start()
    feeder.join()
    await _caught_up(db, workers.topic, len(events), within=150)
    print(
        f"\n50,000 events, 10 kills ({kills_mid_stream} while producing), all applied in "
        f"{time.monotonic() - started:.1f}s"
    )
    await listener.close()
    await _equal_to_rebuild(workers, db)
    duplicates = {k: n for k, n in feed.seen.items() if n > 1}
    assert duplicates == {}
    assert {(d, v) for _, d, v in feed.seen} == {(e.stream_id, e.version) for e in events}


@pytest.mark.slow
async def test_two_workers_share_the_partitions_and_one_takes_over_when_the_other_dies(
    workers: Workers, producer: Producer, db: Any
) -> None:
    w1, w2 = workers.worker("w1").start(), workers.worker("w2").start()
    events = list(Workload(OFFICES, seed=14).events(12_000))
    sent = producer.send(events[:4000])
    await _caught_up(db, workers.topic, sent)
    assert "assigned" in w1.log.read_text() and "assigned" in w2.log.read_text()
    feeder = threading.Thread(
        target=lambda: [producer.send(events[i : i + 500]) for i in range(4000, 12000, 500)]
    )
    feeder.start()
    await asyncio.sleep(0.5)
    w1.kill()
    feeder.join()
    await _caught_up(db, workers.topic, len(events), within=90)
    assert w2.alive
    await _equal_to_rebuild(workers, db)


async def test_the_worker_seeks_back_when_the_groups_committed_offsets_ran_ahead(
    workers: Workers, producer: Producer, db: Any
) -> None:
    """faust's committed offsets can pass records never applied: the stored offsets win."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    events = list(Workload(OFFICES, seed=15).events(3000))
    producer.send(events)
    group = KafkaConsumer(
        bootstrap_servers=workers.bootstrap, group_id=workers.group, enable_auto_commit=False
    )
    tps = [TopicPartition(workers.topic, p) for p in range(6)]
    ends = group.end_offsets(tps)
    group.commit({tp: OffsetAndMetadata(ends[tp], None, -1) for tp in tps})  # as if all were processed
    group.close()
    worker = workers.worker("w1").start()
    await _caught_up(db, workers.topic, len(events), within=60)
    assert "positioned at the stored offsets + 1: [(0, 0), (1, 0)" in worker.log.read_text()
    await _equal_to_rebuild(workers, db)


async def test_a_malformed_record_on_the_topic_is_dead_lettered_and_later_events_still_apply(
    workers: Workers, producer: Producer, db: Any
) -> None:
    import subprocess
    import sys

    workers.worker("w1").start()
    a = story("doc-a", incoming_body("o1"), [{"action": "register"}])
    producer.send(a[:1])
    poison = producer.send_raw(b"doc-a", b'{"event_id": "not a uuid"}', [("type", b"DocumentRegistered")])
    producer.send_raw(None, b"\x00\x01 binary junk")
    later = list(Workload(OFFICES, seed=16).events(500))
    producer.send([a[1], *later])
    await _caught_up(db, workers.topic, 503)
    assert await db.fetchval("SELECT state FROM rm.documents WHERE id = 'doc-a'") == "registered"
    letters = await db.fetch('SELECT partition, "offset", reason FROM rm.dead_letters ORDER BY "offset"')
    assert len(letters) == 2 and {r["reason"] for r in letters} == {"undecodable"}
    assert (poison.partition, poison.offset) in {(r["partition"], r["offset"]) for r in letters}

    from processors.metrics import end_offsets, newest_event_age, open_dead_letters, partition_lag

    lags = await partition_lag(db, workers.topic, await end_offsets(workers.bootstrap, workers.topic))
    assert len(lags) == 6 and all(p.lag == 0 for p in lags)
    age = await newest_event_age(db)
    assert age is not None and age > 0
    assert await open_dead_letters(db) == 2

    env = {**workers.processes["w1"].env}
    cli = [sys.executable, "-m", "deploy.cli", "deadletters"]
    run = subprocess.run
    listed = (await asyncio.to_thread(run, cli, env=env, capture_output=True, text=True, check=True)).stdout
    assert "2 dead letter(s)" in listed and "event_id: must be a UUID" in listed
    retried = await asyncio.to_thread(run, [*cli, "retry"], env=env, capture_output=True, text=True)
    assert retried.returncode == 1 and "resolved 0, still open 2" in retried.stdout


async def test_a_rebuild_loaded_by_two_processes_equals_one_loaded_by_one(
    workers: Workers, producer: Producer, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = producer.send(Workload(OFFICES, seed=13).events(4000))
    one = await rebuild(
        workers.dsn, workers.bootstrap, workers.topic, target="rm_one", swap=False, processes=1
    )
    monkeypatch.setattr("processors.rebuild.PARALLEL_FROM", 1)  # shared however small the topic
    seen: list[int] = []
    two = await rebuild(
        workers.dsn,
        workers.bootstrap,
        workers.topic,
        target="rm_two",
        swap=False,
        batch=500,
        processes=2,
        progress=lambda p: seen.append(p.done),
    )
    assert one.events == two.events == sent and seen[-1] == sent
    assert await db.fetchval("SELECT count(*) FROM rm_two.documents") > 0
    assert await differences(db, "rm_one", "rm_two") == {}


async def test_a_lone_record_is_handed_over_once_fetched_not_after_the_take_window(
    workers: Workers, producer: Producer, db: Any
) -> None:
    # A take window of ten minutes: faust's own take would hold a lone record until it passed (its loop
    # hands the buffer over only when full or when the window ends); ours hands over what one fetch
    # brought as soon as the stream's queue is empty.
    workers.worker("w1", VANTHU_PROCESSOR_WITHIN="600").start()
    first = story("lone-0", incoming_body("o1"), [])
    producer.send(first)
    await _caught_up(db, workers.topic, 1)
    for n in range(1, 4):  # and each later lone record too, while the worker is idle in between
        producer.send(story(f"lone-{n}", incoming_body("o1"), []))
        await _caught_up(db, workers.topic, n + 1, within=60)
