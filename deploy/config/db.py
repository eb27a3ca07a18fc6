"""The one way to open a PostgreSQL connection or pool: asyncpg with JSON codecs installed."""

from __future__ import annotations

import json
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of its own or one borrowed from a pool: everything that takes a connection takes either.
Conn: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"


async def _init(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind, encoder=lambda v: json.dumps(v, ensure_ascii=False), decoder=json.loads, schema="pg_catalog"
        )


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(dsn, **kwargs)
    await _init(conn)
    return conn


async def keep_session(conn: Any) -> None:
    """A pool's `reset` that releases a connection as it is: asyncpg still ends a transaction left open
    and drops Python listeners, but sends no reset query (RESET ALL, UNLISTEN *, CLOSE ALL, advisory
    unlock), a round trip on every release. Only for pools whose users never leave session state behind:
    no SET, LISTEN, session advisory lock or open cursor."""


async def create_pool(dsn: str, min_size: int = 1, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_init, **kwargs)
    assert pool is not None
    return pool
