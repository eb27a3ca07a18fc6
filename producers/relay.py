"""The relay: publishes every appended event to Kafka, in per-document order; `python -m producers.relay`.

It drains the outbox (positions queued by the appending transactions) in position order. A window of
pages is taken inside one transaction: each page is deleted from the outbox as it is read (so the next
read, in the same transaction, starts after it) and handed to the publisher without waiting (one record
batch per partition, one ProduceRequest per leader, idempotent: `producers.publishing.Publisher`), so
Postgres reads and Kafka sends overlap; the window's transaction commits only once Kafka acknowledged
(acks=all) every record in it. A crash or a failed send rolls the window back and its events are sent
again (at-least-once; consumers dedupe by (stream_id, version)). Every read starts from the lowest
position still queued, so an append that commits late appears late and is never skipped, and a
document's events stay in order (its next version cannot commit before the one it follows). Woken by
NOTIFY after commits, with a slow safety poll. One relay is active at a time (a session advisory lock);
others wait as standbys and take over when its session ends. Kafka or Postgres going away means: back
off, reconnect, start again from the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg

from deploy.config.db import connect
from deploy.config.settings import Settings
from producers.anchoring import anchor
from producers.locks import CHANNEL, LOCK_CLASS, RELAY
from producers.publishing import SELECT_EVENT, Publisher
from producers.witness import Witness, ensure_key

log = logging.getLogger("vanthu.relay")

# One page: the lowest queued positions, taken out of the outbox (for this transaction) as they are read.
# `= ANY(ARRAY(...))` keeps the delete on the primary key: joined to the page instead, an analyzed outbox
# of 200,000 rows was hash-joined by a sequential scan of all of it for every page (190 ms against 24 ms).
# The window's commit is not waited on to reach the disk (`synchronous_commit` off for its transaction,
# set by the page's own statement, no round trip of its own): it only removes outbox rows of events Kafka
# has acknowledged, and a commit lost in a crash sends them again, as a crash before it does (consumers
# dedupe). It took a WAL flush (2-2.5 ms on this disk) per window, and the next window waited for it.
TAKE_PAGE = (
    "WITH lazy AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)), "
    "taken AS (DELETE FROM outbox WHERE position = ANY(ARRAY("
    "SELECT position FROM outbox ORDER BY position LIMIT $1)) RETURNING position) "
    f"SELECT {SELECT_EVENT} FROM lazy, taken JOIN events e ON e.position = taken.position "
    "ORDER BY e.position"
)


@dataclass
class Relay:
    dsn: str  # the services' role (vanthu_app)
    bootstrap: str
    topic: str
    batch: int = 2000  # rows per outbox read
    window: int = 4  # pages in flight before waiting for Kafka's acknowledgements (at most 5)
    safety_poll_s: float = 5.0  # in case a NOTIFY is lost (e.g. across a reconnect)
    busy_poll_s: float = 0.02  # while events flow: read again this soon without a wake-up
    busy_for_s: float = 1.0  # events flow until this long after the last window that sent some
    anchor_age_s: float = 60.0  # a partial anchor block is closed once its oldest event is this old
    anchor_every_s: float = 1.0  # anchoring while idle at most this often (it stalls appenders an instant)
    linger_s: float = 0.005  # after a window that sent events while more came: gather this long first
    max_backoff_s: float = 10.0
    published: int = 0
    witness: Witness | None = None  # signs and publishes anchors on its own clock, Kafka up or down

    @classmethod
    def from_settings(cls, settings: Settings) -> Relay:
        witness = Witness(
            settings.app_dsn,
            settings.bootstrap,
            settings.anchors_topic_name,
            settings.witness_path,
            ensure_key(settings.anchor_key_path),
            interval_s=settings.witness_interval,
            events_topic=settings.events_topic,
        )
        return cls(settings.app_dsn, settings.bootstrap, settings.events_topic, witness=witness)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        witnessing = None if self.witness is None else asyncio.create_task(self.witness.run(stop))
        try:
            await self._relay(stop)
        finally:
            if witnessing is not None:
                if not stop.is_set():
                    witnessing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await witnessing

    async def _relay(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            try:
                await self._session(stop)
                backoff = 0.2
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("relay: Postgres unavailable (%s); retrying in %.1fs", exc, backoff)
            except Exception as exc:  # Kafka errors come in many classes; all mean "try again later"
                log.warning("relay: %s: %s; retrying in %.1fs", type(exc).__name__, exc, backoff)
            await _sleep(stop, backoff)
            backoff = min(backoff * 2, self.max_backoff_s)

    async def _session(self, stop: asyncio.Event) -> None:
        conn = await connect(self.dsn, server_settings={"application_name": f"vanthu-relay-{os.getpid()}"})
        # Every publisher call runs on this one thread, in the order the pages were read. A new session
        # is a new idempotent producer (new producer id, sequences from 0).
        publisher = Publisher(self.bootstrap)
        sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vanthu-relay-send")
        try:
            if not await self._become_active(conn, stop):
                return
            log.info("relay: active, publishing to %s at %s", self.topic, self.bootstrap)
            wake = asyncio.Event()
            await conn.add_listener(CHANNEL, lambda *_: wake.set())
            anchored = -self.anchor_every_s
            flowed = -self.busy_for_s  # when a window last sent events
            while not stop.is_set():
                wake.clear()
                sent, more = await self._window(conn, publisher, sender)
                self.published += sent
                if sent:
                    flowed = asyncio.get_running_loop().time()
                if more:
                    continue
                # Linger only while events keep arriving (a wake-up came during the window): then the
                # next window gathers more. After a quiet window the next commit's wake-up is read at
                # once: at a steady 200 actions/s each API process wakes the relay at most once per
                # RelayWake gap already, and a linger after every window added up to 5 ms to each event.
                linger = sent > 0 and wake.is_set()
                # Anchoring takes the appenders' lock exclusively and hashes every event since the last
                # anchor: after every wake-up (about 100 a second at 200 actions/s) it was most of the
                # relay's CPU and made each next wake-up wait for it. A block is full at 1,000 events; a
                # partial one is due after a minute: once a second is soon enough for both.
                now = asyncio.get_running_loop().time()
                if now - anchored >= self.anchor_every_s:
                    await anchor(conn, max_age_s=self.anchor_age_s)
                    anchored = now
                # A commit during the window woke us again (its NOTIFY follows its commit); none did: wait
                # instead of reading an empty page. While events flow, not long: an API process sends its
                # wake-up through its pool after the commit, and a busy API's pool made it late by hundreds
                # of milliseconds (its events waited for it, or for the safety poll).
                if linger and self.linger_s:
                    await _sleep(stop, self.linger_s)
                if not wake.is_set():
                    flowing = now - flowed < self.busy_for_s
                    await _wait_any(stop, wake, self.busy_poll_s if flowing else self.safety_poll_s)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(sender, publisher.close)
            sender.shutdown(wait=False)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)

    async def _window(
        self, conn: asyncpg.Connection[Any], publisher: Publisher, sender: ThreadPoolExecutor
    ) -> tuple[int, bool]:
        """Take and send up to `window` pages in one transaction, committed once Kafka acknowledged them
        all. Returns how many events were published and whether a full page was left unread."""
        loop = asyncio.get_running_loop()
        sending: list[asyncio.Future[Any]] = []
        taken, more = 0, False
        async with conn.transaction():
            for _ in range(self.window):
                rows = await conn.fetch(TAKE_PAGE, self.batch)
                if not rows:
                    more = False
                    break
                taken += len(rows)
                more = len(rows) == self.batch
                if not more and not sending:
                    # The usual live window, one part page: sent and flushed in one call on the sender
                    # thread, so one hand-over back to this loop instead of two.
                    await loop.run_in_executor(sender, _send_and_flush, publisher, self.topic, rows)
                    break
                sending.append(loop.run_in_executor(sender, publisher.send, self.topic, rows))
                if not more:
                    break
            if sending:
                # The flush is queued behind the sends on the one sender thread at once (not after the
                # sends came back to this loop): one hop between the threads less per window.
                sending.append(loop.run_in_executor(sender, publisher.flush))
                await asyncio.gather(*sending)
                log.debug("relay: published %d", taken)
        return taken, more

    async def _become_active(self, conn: asyncpg.Connection[Any], stop: asyncio.Event) -> bool:
        announced = False
        while not stop.is_set():
            if await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, RELAY):
                return True
            if not announced:
                log.info("relay: standby (another relay is active)")
                announced = True
            await _sleep(stop, 1.0)
        return False


def _send_and_flush(publisher: Publisher, topic: str, rows: Sequence[Any]) -> None:
    publisher.send(topic, rows)
    publisher.flush()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await Relay.from_settings(Settings.from_env()).run(stop)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    asyncio.run(_main())
