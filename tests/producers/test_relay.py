"""The relay against the real broker: order per document, late commits, kill -9, standbys, lost sessions."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from deploy.config.db import connect
from deploy.config.settings import Settings
from producers.relay import Relay
from tests.producers.bulk import Streams, read_topic
from tests.toolkit.processes import Process, Services
from tests.toolkit.waiting import wait_until

pytestmark = pytest.mark.timeout(180)


async def outbox_empty(conn: asyncpg.Connection[Any]) -> bool:
    return await conn.fetchval("SELECT count(*) FROM outbox") == 0


def check_topic(records: list[Any], stored: list[asyncpg.Record]) -> int:
    """Every stored event is on the topic, first copies in version order per document, repeats
    byte-identical; returns the number of redeliveries."""
    by_key = {(r["stream_id"], r["version"]): bytes(r["body"]) for r in stored}
    seen: dict[tuple[str, int], bytes] = {}
    last: dict[str, int] = {}
    redelivered = 0
    for rec in records:
        import json

        envelope = json.loads(rec.value)
        key = (envelope["stream_id"], envelope["version"])
        assert rec.key == key[0].encode()
        assert rec.value == by_key[key], f"{key}: the topic's bytes differ from the store's"
        if key in seen:
            redelivered += 1
            continue
        seen[key] = rec.value
        assert key[1] == last.get(key[0], 0) + 1, f"{key}: out of order (previous {last.get(key[0])})"
        last[key[0]] = key[1]
    assert set(seen) == set(by_key), f"{len(set(by_key) - set(seen))} stored events missing on the topic"
    return redelivered


@pytest.fixture
async def relay_task(app_dsn: str, bootstrap: str, new_topic: Callable[..., str]) -> Any:
    topics: list[str] = []
    tasks: list[tuple[asyncio.Task[None], asyncio.Event]] = []

    def start(topic: str | None = None, **kw: Any) -> tuple[Relay, str]:
        topic = topic or new_topic(3)
        topics.append(topic)
        relay = Relay(app_dsn, bootstrap, topic, **kw)
        stop = asyncio.Event()
        tasks.append((asyncio.create_task(relay.run(stop)), stop))
        return relay, topic

    yield start
    for task, stop in tasks:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_published_in_order_soon_after_commit(
    relay_task: Any, app_dsn: str, admin: asyncpg.Connection[Any], bootstrap: str
) -> None:
    _, topic = relay_task(safety_poll_s=30)  # only NOTIFY can make it fast
    conn = await connect(app_dsn)
    try:
        streams = Streams(5)
        await streams.append_round(conn, 1)
        await wait_until(lambda: outbox_empty(conn), 30, "first events published")
        started = time.monotonic()
        await streams.append_round(conn, 3)
        committed = time.monotonic()
        await wait_until(lambda: outbox_empty(conn), 10, "woken by NOTIFY")
        waited = time.monotonic() - committed
        assert time.monotonic() - started < 5, "published only by the safety poll"
        print(f"\npublished 15 events {waited * 1000:.0f} ms after commit")
    finally:
        await conn.close()
    stored = await admin.fetch("SELECT stream_id, version, body FROM events ORDER BY position")
    records = read_topic(bootstrap, topic)
    assert check_topic(records, stored) == 0
    first = records[0]
    assert dict(first.headers)["type"] == b"TaskCreated"
    assert dict(first.headers)["schema_version"] == b"1"


async def test_an_idle_relay_anchors_now_and_then_not_after_every_wake_up(
    relay_task: Any, app_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anchoring takes the appenders' lock exclusively and hashes every event since the last anchor: run
    # after every wake-up, it was most of the relay's work at a steady trickle of actions and delayed the
    # next wake-up's events.
    from producers import relay as relay_module

    anchored: list[float] = []
    anchor = relay_module.anchor

    async def counted(conn: Any, **kw: Any) -> Any:
        anchored.append(time.monotonic())
        return await anchor(conn, **kw)

    monkeypatch.setattr(relay_module, "anchor", counted)
    relay, _ = relay_task(safety_poll_s=120, busy_poll_s=120, anchor_every_s=3600)  # woken by NOTIFY only
    conn = await connect(app_dsn)
    try:
        streams = Streams(3)
        for n in range(1, 11):
            await streams.append_round(conn, 1)  # three commits, each with its NOTIFY
            await wait_until(lambda: outbox_empty(conn), 30, f"round {n} published")
    finally:
        await conn.close()
    assert relay.published == 30
    assert len(anchored) == 1, f"anchored {len(anchored)} times in 10 wake-ups"


async def test_while_events_flow_a_late_wake_up_is_not_waited_for(relay_task: Any, app_dsn: str) -> None:
    # An API process sends its wake-up after the commit, through its pool: a busy API sent it hundreds of
    # milliseconds late. Right after a window that sent events the relay reads again soon on its own.
    from producers import store

    relay, _ = relay_task(safety_poll_s=120, busy_poll_s=10)
    conn = await connect(app_dsn)
    try:
        streams = Streams(2)
        await streams.append_round(conn, 1)  # woken by NOTIFY
        await wait_until(lambda: outbox_empty(conn), 30, "the first round published")
        doc = next(iter(streams.versions))
        async with conn.transaction():  # no NOTIFY: its wake-up is late, or lost
            appended = await store.append(conn, streams.envelopes(doc, 1), streams.hashes[doc], notify=False)
        streams.hashes[doc] = appended[-1].hash
        await wait_until(lambda: outbox_empty(conn), 60, "the unannounced event published")
    finally:
        await conn.close()
    assert relay.published == 3


async def test_an_api_wakes_the_relay_at_most_once_per_gap(app_dsn: str) -> None:
    # Each wake-up is a notifying transaction and a wake-up of the relay: one per action (at 200 actions/s)
    # made the relay publish about one event per Kafka request and the processors apply one per
    # transaction. Commits within the gap after a wake-up are announced by one more, when it is over.
    from deploy.config.db import create_pool
    from producers.handler import RelayWake
    from producers.locks import CHANNEL

    listener = await connect(app_dsn)
    notes: list[float] = []
    await listener.add_listener(CHANNEL, lambda *_: notes.append(time.monotonic()))
    pool = await create_pool(app_dsn, min_size=1, max_size=2)
    try:
        wake = RelayWake(pool, gap_s=2.0)
        wake.poke()
        await wait_until(lambda: len(notes) == 1, 10, "the first wake-up")
        for _ in range(3):  # three commits within the gap
            wake.poke()
            await asyncio.sleep(0)
        await wake.close()  # waits out the gap and what follows it
        await listener.fetchval("SELECT 1")  # notices sent before this answer are delivered by now
        assert len(notes) == 2, f"{len(notes)} wake-ups for four commits, three of them within the gap"
    finally:
        await pool.close()
        await listener.close()


async def test_a_transaction_that_commits_late_is_not_skipped(
    relay_task: Any, app_dsn: str, admin: asyncpg.Connection[Any], bootstrap: str
) -> None:
    _, topic = relay_task()
    early, late = await connect(app_dsn), await connect(app_dsn)
    try:
        slow, fast = Streams(1), Streams(1)
        tx = late.transaction()
        await tx.start()
        doc = next(iter(slow.versions))
        from producers import store

        await store.append(late, slow.envelopes(doc, 2), slow.hashes[doc])  # lower positions, uncommitted
        await fast.append_round(early, 3)  # higher positions, committed
        await wait_until(lambda: outbox_empty(early), 30, "the later positions published")
        await tx.commit()
        await wait_until(lambda: outbox_empty(early), 30, "the earlier positions published too")
    finally:
        await early.close()
        await late.close()
    stored = await admin.fetch("SELECT stream_id, version, body, position FROM events ORDER BY position")
    assert [r["stream_id"] for r in stored][:2] == [doc, doc]
    assert check_topic(read_topic(bootstrap, topic), stored) == 0


async def test_a_lost_postgres_session_is_ridden_out(
    relay_task: Any, app_dsn: str, admin: asyncpg.Connection[Any], bootstrap: str
) -> None:
    _, topic = relay_task()
    conn = await connect(app_dsn)
    try:
        streams = Streams(4)
        await streams.append_round(conn, 2)
        await wait_until(lambda: outbox_empty(conn), 30, "published")
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name LIKE 'vanthu-relay-%' AND datname = current_database()"
        )
        assert killed == 1
        await streams.append_round(conn, 2)
        await wait_until(lambda: outbox_empty(conn), 60, "published after reconnecting")
    finally:
        await conn.close()
    stored = await admin.fetch("SELECT stream_id, version, body FROM events ORDER BY position")
    assert check_topic(read_topic(bootstrap, topic), stored) == 0


# --- kill -9 of a real relay process ----------------------------------------------------------------


class Relays(Services):
    """Relay processes (`python -m producers.relay`) pointed at a test database and topic."""

    def another(self) -> Process:
        return self.new(f"relay-{len(self.processes)}", "relay").start()


@pytest.fixture
def relays(
    settings: Settings, database: str, bootstrap: str, new_topic: Callable[..., str], tmp_path: Path
) -> Iterator[Relays]:
    # the relay connects as vanthu_app on this database
    s = settings.with_(pg_dsn=database, kafka_bootstrap=bootstrap, events_topic=new_topic(6))
    r = Relays(s, logs=tmp_path)
    yield r
    r.stop_all()
    for f in sorted(tmp_path.glob("*.log")):
        print(f"--- {f.name}\n{f.read_text()[-1500:]}")


async def active_relay_pid(admin: asyncpg.Connection[Any]) -> int | None:
    name = await admin.fetchval(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = 2 AND l.classid = $1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        0x76616E74,
    )
    return None if name is None else int(name.rsplit("-", 1)[1])


async def stop_outside_a_transaction(admin: asyncpg.Connection[Any], pid: int) -> None:
    """SIGSTOP the relay at a moment none of its connections is inside a transaction: stopped while it
    settles positions for an anchor (the APPEND lock held exclusively for a moment) it would block every
    append of the test until killed."""
    for _ in range(500):
        os.kill(pid, signal.SIGSTOP)
        busy = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND xact_start IS NOT NULL",
            f"vanthu-relay-{pid}",
        )
        if not busy:
            return
        os.kill(pid, signal.SIGCONT)
        await asyncio.sleep(0.01)
    raise AssertionError(f"relay {pid} was inside a transaction at every try")


async def test_kill_9_of_the_active_relay_mid_burst_loses_nothing(
    relays: Relays, app_dsn: str, admin: asyncpg.Connection[Any], bootstrap: str
) -> None:
    first, second = relays.another(), relays.another()
    await wait_until(lambda: active_relay_pid(admin), 60, "a relay is active")
    conn = await connect(app_dsn)
    try:
        streams = Streams(200)
        total = 0
        started = time.monotonic()
        victim = await active_relay_pid(admin)
        assert victim in (first.pid, second.pid)
        # Caught mid-window for certain (the relay publishes faster than the burst is written): stopped
        # while the first half is written, then held by a lock on the outbox rows past its first two
        # pages, so it has sent those pages to Kafka and waits, its window uncommitted, when it is killed.
        await stop_outside_a_transaction(admin, victim)
        for _ in range(10):  # 200 documents × 10 rounds × 5 events: the first half of the burst
            total += await streams.append_round(conn, 5)
        tx = admin.transaction()  # the owner's: the services' role may not lock rows of the outbox
        await tx.start()
        await admin.execute("SELECT 1 FROM outbox ORDER BY position OFFSET 4000 FOR UPDATE")
        os.kill(victim, signal.SIGCONT)

        async def relay_waits_on_the_lock() -> bool:
            return bool(
                await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = $1 AND wait_event_type = 'Lock'",
                    f"vanthu-relay-{victim}",
                )
            )

        await wait_until(relay_waits_on_the_lock, 60, "the relay is mid-burst, its next page locked")
        (first if victim == first.pid else second).kill()
        await tx.rollback()
        left = await conn.fetchval("SELECT count(*) FROM outbox")
        assert left == total, "a killed relay's window is rolled back: every event is queued again"
        print(f"\nkilled relay pid {victim} with {left} of {total} events still unpublished")
        for _ in range(10):  # the second half, while the standby takes over
            total += await streams.append_round(conn, 5)
        restarted = relays.another()  # the killed one comes back, as a standby now
        await wait_until(lambda: outbox_empty(conn), 120, "every event published", every=0.1)
        elapsed = time.monotonic() - started
        assert await active_relay_pid(admin) in (first.pid, second.pid, restarted.pid)
        assert await active_relay_pid(admin) != victim
    finally:
        await conn.close()
    assert total == 20000
    stored = await admin.fetch("SELECT stream_id, version, body FROM events ORDER BY position")
    records = read_topic(bootstrap, relays.settings.events_topic)
    redelivered = check_topic(records, stored)
    print(
        f"{len(stored)} events stored, {len(records)} records on the topic, "
        f"{redelivered} redelivered (byte-identical), all published in {elapsed:.1f}s"
    )


async def test_a_window_commits_without_waiting_for_the_disk(app_dsn: str) -> None:
    # The window only deletes outbox rows of acknowledged events: losing its commit in a crash means
    # sending them again (as a crash before it would), so it does not wait for a WAL flush. The page's
    # own statement sets that, for its transaction only.
    from producers import store
    from producers.relay import TAKE_PAGE

    conn = await connect(app_dsn)
    try:
        streams = Streams(1)
        doc = next(iter(streams.versions))
        await store.append(conn, streams.envelopes(doc, 1), streams.hashes[doc], notify=False)
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
        async with conn.transaction():
            assert len(await conn.fetch(TAKE_PAGE, 10)) == 1
            assert await conn.fetchval("SHOW synchronous_commit") == "off"
        assert await conn.fetchval("SHOW synchronous_commit") == "on"  # the session's own is untouched
        assert await outbox_empty(conn)
    finally:
        await conn.close()


async def test_the_relay_lingers_only_while_events_keep_arriving(relay_task: Any, app_dsn: str) -> None:
    # A linger after every window made each event wait up to its length even when nothing else was on
    # its way. With a ten-minute linger: an event committed after a quiet window is still sent at once.
    # The first event is in the outbox before the relay starts, without a NOTIFY: its first window
    # takes it. (Appended while the relay was starting, an event's own NOTIFY could reach the relay
    # after the window that had already taken it, and the relay lingered for it: a fault of the
    # test's timing, at most one 5 ms linger in service, but ten minutes here.)
    from producers import store

    conn = await connect(app_dsn)
    try:
        streams = Streams(1)
        doc = next(iter(streams.versions))
        appended = await store.append(conn, streams.envelopes(doc, 1), streams.hashes[doc], notify=False)
        streams.hashes[doc] = appended[-1].hash
        relay, _ = relay_task(safety_poll_s=120, busy_poll_s=120, linger_s=600)
        await wait_until(lambda: outbox_empty(conn), 60, "the event before the relay started published")
        for n in range(1, 4):
            await streams.append_round(conn, 1)  # one commit with its NOTIFY, after a quiet window
            await wait_until(lambda: outbox_empty(conn), 60, f"event {n} published")
    finally:
        await conn.close()
    assert relay.published == 4
