"""One LISTEN connection per API process, fanned out to every live feed stream, with bounded streams.

A stream holds no database connection while it waits: it borrows a pool connection only to read the
feed table (a replay or a gap) and to judge visibility, then gives it back. Streams are counted per
user and in all; past either limit a new stream is refused with 429.
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
            for subs in self.subscriptions.values():  # notes may have been missed while it was down
                for sub in subs:
                    sub.fall_behind()

    async def stop(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and not conn.is_closed():
            await conn.close()

    def _note(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        item = json.loads(str(payload))  # a NOTIFY payload is text
        for sub in self.subscriptions.get(item.get("office_id"), ()):
            sub.push(item)

    def _lost(self, _conn: object) -> None:
        log.warning("the feed's LISTEN connection was lost; streams reread the table and it reconnects")
        self.conn = None
        for subs in self.subscriptions.values():
            for sub in subs:
                sub.fall_behind()
