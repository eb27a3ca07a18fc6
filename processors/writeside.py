"""The write side as the processors use it: `producers.handler.handle` bound to the offices and to a pool of
the services' role, built once. The processors' own role cannot append an event: what the saga and the
chaser record, they record as a command through here, like the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from deploy.config.db import Conn
from deploy.config.offices import Offices
from producers.filestore import FileStore
from producers.handler import HandleRequest, HandleResult, handle
from schemas.envelope import SYSTEM_ACTOR, Actor


@dataclass(frozen=True)
class WriteSide:
    """What the saga and the chaser act through: the one command handler and the offices it numbers for."""

    offices: Offices
    pool: asyncpg.Pool[Any]  # the services' role (vanthu_app), never the processors' own
    files: FileStore | None = None  # where attached files are read from (None: files are not examined)
    trust_roots: tuple[Any, ...] = ()  # the CA certificates signatures must chain to (asn1crypto)

    async def handle(self, request: HandleRequest, conn: Conn | None = None) -> HandleResult:
        """`request` through the write side, on `conn` (one of `pool`'s, held by the caller) or the pool."""
        return await handle(conn if conn is not None else self.pool, request, self.offices)


def system_actor(office_id: str) -> Actor:
    """The system acting for an office (the saga and the chaser)."""
    return Actor(user=SYSTEM_ACTOR.user, office=office_id, roles=SYSTEM_ACTOR.roles)
