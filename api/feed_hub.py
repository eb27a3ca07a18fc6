"""One LISTEN connection per API process, fanned out to every live feed stream, with bounded streams.

The processors NOTIFY once per office and batch with the office's last seq; the hub reads that office's
new rows from the feed table once (on its own connection, only for offices with open streams) and queues
them on each of the office's streams. A stream holds no database connection while it waits: it borrows
a pool connection only to read the feed table itself (a replay, or a gap in what the hub queued) and to
judge visibility, then gives it back. Streams are counted per user and in all; past either limit a new
stream is refused with 429.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, deque
from typing import Any

import asyncpg

from api.errors import Problem
from deploy.config.db import connect
from processors.feed import FEED_CHANNEL

log = logging.getLogger("vanthu.api.feed")
QUEUE_MAX = 1000  # notes a slow stream may hold; past it the stream rereads the table instead


class Subscription:
    """One stream's queue of notes for its office; `behind` when it must read the table instead."""

    def __init__(self, user: str, office: str) -> None:
        self.user, self.office = user, office
        self.items: deque[dict[str, Any]] = deque()
        self.behind = True  # a new stream first replays from the table
        self.ready = asyncio.Event()

    def push(self, item: dict[str, Any]) -> None:
        if len(self.items) >= QUEUE_MAX:
            self.fall_behind()
            return
        self.items.append(item)
        self.ready.set()

    def fall_behind(self) -> None:
        self.items.clear()
        self.behind = True
        self.ready.set()

    async def wait_news(self, seconds: float) -> bool:
        """Wait for news; False when `seconds` passed with none."""
        try:
            await asyncio.wait_for(self.ready.wait(), seconds)
        except TimeoutError:
            return False
        finally:
            self.ready.clear()
        return True


class FeedHub:
    def __init__(self, dsn: str, per_user: int, total: int) -> None:
        self.dsn, self.per_user, self.total = dsn, per_user, total
        self.subscriptions: dict[str, set[Subscription]] = {}
        self.by_user: Counter[str] = Counter()
        self.count = 0
        self.conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._read: dict[str, int] = {}  # per office, the last seq the hub has read and queued
        self._noted: dict[str, int] = {}  # per office, the last seq noticed and not yet read
        self._wake = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    def open(self, user: str, office: str) -> Subscription:
        """Count a new stream in, or refuse it with 429."""
        if self.count >= self.total:
            raise Problem(
                429,
                "too-many-streams",
                "Too many streams",
                f"this server already serves {self.count} live feed streams (at most {self.total}); "
                "retry later",
                headers={"Retry-After": "30"},
            )
        if self.by_user[user] >= self.per_user:
            raise Problem(
                429,
                "too-many-streams",
                "Too many streams",
                f"user {user} already has {self.by_user[user]} live feed streams open (at most "
                f"{self.per_user}); close one first",
                headers={"Retry-After": "30"},
            )
        sub = Subscription(user, office)
        self.subscriptions.setdefault(office, set()).add(sub)
        self.by_user[user] += 1
        self.count += 1
        return sub

    def close(self, sub: Subscription) -> None:
        subs = self.subscriptions.get(sub.office)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        if not subs:
            del self.subscriptions[sub.office]
            self._read.pop(sub.office, None)
        self.by_user[sub.user] -= 1
        if self.by_user[sub.user] <= 0:
            del self.by_user[sub.user]
        self.count -= 1

    async def listen(self) -> None:
        """Make sure the one LISTEN connection is up (opened on the first stream, reopened after a loss)."""
        if self.conn is not None and not self.conn.is_closed():
            return
        async with self._lock:
            if self.conn is not None and not self.conn.is_closed():
                return
            conn = await connect(self.dsn)
            conn.add_termination_listener(self._lost)
            await conn.add_listener(FEED_CHANNEL, self._note)
            self.conn = conn
            self._read.clear()
            for subs in self.subscriptions.values():  # notes may have been missed while it was down
                for sub in subs:
                    sub.fall_behind()
            if self._reader is None or self._reader.done():
                self._reader = asyncio.get_running_loop().create_task(self._read_notes())

    async def stop(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            try:
                await reader
            except asyncio.CancelledError:
                pass
        conn, self.conn = self.conn, None
        if conn is not None and not conn.is_closed():
            await conn.close()

    def _note(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        """A notice `{"office_id", "seq"}`: the office's feed has rows up to seq (the reader reads them)."""
        note = json.loads(str(payload))  # a NOTIFY payload is text
        office, seq = note.get("office_id"), note.get("seq")
        if office not in self.subscriptions or not isinstance(seq, int):
            return
        if office not in self._read:  # where the office's streams are is theirs to know: they read
            self._read[office] = seq
            for sub in self.subscriptions[office]:
                sub.fall_behind()
            return
        if seq > self._noted.get(office, 0):
            self._noted[office] = seq
            self._wake.set()

    async def _read_notes(self) -> None:
        """Read each noticed office's new rows once and queue them on its streams."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            noted, self._noted = self._noted, {}
            for office, seq in noted.items():
                subs = self.subscriptions.get(office)
                after = self._read.get(office)
                if not subs or after is None or seq <= after:
                    continue
                try:
                    conn = self.conn
                    if conn is None or conn.is_closed():
                        raise asyncpg.InterfaceError("the LISTEN connection is down")
                    rows = await conn.fetch(
                        "SELECT seq, payload FROM feed WHERE office_id = $1 AND seq > $2 AND seq <= $3 "
                        "ORDER BY seq LIMIT $4",
                        office,
                        after,
                        seq,
                        QUEUE_MAX + 1,
                    )
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("the feed hub could not read office %s's new rows: %r", office, exc)
                    self._read.pop(office, None)
                    for sub in list(self.subscriptions.get(office, ())):
                        sub.fall_behind()
                    continue
                if office not in self._read:
                    continue  # the connection was lost meanwhile: its streams fell behind already
                self._read[office] = rows[-1]["seq"] if len(rows) > QUEUE_MAX else seq
                items = [{**r["payload"], "seq": r["seq"]} for r in rows]
                for sub in list(self.subscriptions.get(office, ())):
                    if len(items) > QUEUE_MAX:
                        sub.fall_behind()
                    else:
                        for item in items:
                            sub.push(item)

    def _lost(self, _conn: object) -> None:
        log.warning("the feed's LISTEN connection was lost; streams reread the table and it reconnects")
        self.conn = None
        self._read.clear()
        for subs in self.subscriptions.values():
            for sub in subs:
                sub.fall_behind()
