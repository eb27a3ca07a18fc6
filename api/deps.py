"""Dependencies declared once as Annotated aliases: the caller, the pools, the settings.

Route code takes these instead of reading `app.state`. They are `async def` so FastAPI calls them on the
event loop (a plain `def` dependency runs in a worker thread, a hop per request).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import asyncpg
from fastapi import Depends, Header, Request

from api.auth import Principal
from deploy.config.db import create_pool
from deploy.config.offices import Offices
from deploy.config.settings import Settings
from producers.filestore import FileStore
from producers.handler import WritePath


async def current_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    principal: Principal = request.app.state.verifier.verify(authorization)
    request.state.principal = principal
    return principal


if TYPE_CHECKING:
    PgPool = asyncpg.Pool[Any]
else:
    PgPool = asyncpg.Pool  # asyncpg's Pool is generic only in its stubs


async def _keep_session(conn: Any) -> None:
    """Release a pool connection as it is: asyncpg still ends a transaction left open and drops Python
    listeners, but sends no reset query (RESET ALL, UNLISTEN *, CLOSE ALL, advisory unlock): a round trip
    on every release, for session state the API never leaves (the feed LISTENs on a connection of its own;
    no route SETs, holds a session lock or keeps a cursor)."""


async def open_pool(dsn: str, min_size: int = 2, max_size: int = 20) -> PgPool:
    """The API's connection pool."""
    created: PgPool = await create_pool(dsn, min_size=min_size, max_size=max_size, reset=_keep_session)
    return created


async def pool(request: Request) -> PgPool:
    pg: PgPool = request.app.state.pool
    return pg


async def write_path(request: Request) -> WritePath:
    """The process's write path on its pool (made on first use, and again if the pool was replaced)."""
    state = request.app.state
    w: WritePath | None = getattr(state, "writes", None)
    if w is None or w.pool is not state.pool:
        w = state.writes = WritePath(state.pool)
    return w


async def settings(request: Request) -> Settings:
    s: Settings = request.app.state.settings
    return s


async def offices(request: Request) -> Offices:
    o: Offices = request.app.state.offices
    return o


async def file_store(request: Request) -> FileStore:
    f: FileStore = request.app.state.files
    return f


CurrentUser = Annotated[Principal, Depends(current_user)]
Pool = Annotated[PgPool, Depends(pool)]
SettingsDep = Annotated[Settings, Depends(settings)]
OfficesDep = Annotated[Offices, Depends(offices)]
FilesDep = Annotated[FileStore, Depends(file_store)]
Writes = Annotated[WritePath, Depends(write_path)]
