"""Dependencies declared once as Annotated aliases: the caller, the pools, the settings.

Route code takes these instead of reading `app.state`. They are `async def` so FastAPI calls them on the
event loop (a plain `def` dependency runs in a worker thread, a hop per request).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import asyncpg
from fastapi import Depends, Header, Request

from api.auth import Principal
from deploy.config.db import create_pool, keep_session
from deploy.config.offices import Offices
from deploy.config.settings import Settings
from producers.filestore import FileStore
from producers.handler import SPARE_CONNECTIONS, WritePath


async def current_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    principal: Principal = request.app.state.verifier.verify(authorization)
    request.state.principal = principal
    return principal


if TYPE_CHECKING:
    PgPool = asyncpg.Pool[Any]
else:
    PgPool = asyncpg.Pool  # asyncpg's Pool is generic only in its stubs


# PostgreSQL plans a prepared statement for its parameters' values five times, then may settle on one
# generic plan for any value. For full-text search that generic plan cannot know how common the words are
# (an ordered scan of the office's newest rows suits common words, the office-scoped GIN index and a sort
# rare ones) and was 2-5 times slower at the 90th percentile; planning each search for its own words costs
# about 0.3 ms. Only searches run on these connections: the other reads keep their generic plans, which
# planning each time would make slower.
CUSTOM_PLANS = {"plan_cache_mode": "force_custom_plan"}

# The office's plain lists (no text search, no deadline filter), its deadlines and its statistics run on a
# few connections of their own whose statements keep one generic plan: for each of them the generic plan
# is the plan PostgreSQL picks for any values (an index range in the order shown), but its estimate
# depends on the averages (a user's grants, the page size as a parameter), so for an inbox page PostgreSQL
# went on planning every call (pg_prepared_statements: no generic plan chosen), 0.165 against 0.085 ms of
# backend CPU per execution at 1 M events. Few connections: fewer backends take turns on the two cores
# (BENCH_SCALE=0.1, inbox, deadlines and stats at 400 requests/s: 0.57 against 0.66 ms of PostgreSQL CPU
# per request with every connection of the API's pool in use), and reads do not wait behind actions' turns.
GENERIC_PLANS = {"plan_cache_mode": "force_generic_plan"}
READ_POOL_SIZE = 4


# The API's pool: 28 connections for actions' turns (producers.handler.WritePath) and the spare ones
# actions never wait for. A turn handed to the oldest waiter leaves its connection idle until that task
# runs: with the first-come turns, 18 turns in a pool of 20 gave 1,212-1,376 actions/s where asyncpg's
# own hand-over gave 1,520; 20 turns 1,334-1,406; 28 turns 1,371-1,521, p99 59-66 ms (quiet pairs, README
# "Commands: where the tail comes from").
POOL_SIZE = 28 + SPARE_CONNECTIONS


async def open_pool(
    dsn: str,
    min_size: int = 2,
    max_size: int = POOL_SIZE,
    *,
    custom_plans: bool = False,
    generic_plans: bool = False,
    idle_lifetime: float = 300.0,
) -> PgPool:
    """The API's connection pool; `custom_plans`: every statement planned for its own values (search);
    `generic_plans`: every statement planned once (the office's plain lists, deadlines, stats);
    `idle_lifetime`: seconds before an idle connection is closed (0: never, and no timer is set and
    cancelled around every use, as asyncpg does otherwise: for the few connections of the read pools)."""
    created: PgPool = await create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        reset=keep_session,  # the feed LISTENs on a connection of its own; no route SETs or locks
        server_settings=CUSTOM_PLANS if custom_plans else GENERIC_PLANS if generic_plans else None,
        max_inactive_connection_lifetime=idle_lifetime,
    )
    return created


async def pool(request: Request) -> PgPool:
    pg: PgPool = request.app.state.pool
    return pg


@dataclass(frozen=True, slots=True)
class Reader:
    """What a read route needs, solved as one dependency: each dependency FastAPI solves costs about as
    much CPU as a small query's own Python (py-spy, tests/bench queries)."""

    principal: Principal
    pool: PgPool
    offices: Offices
    settings: Settings
    request: Request

    @property
    def search_pool(self) -> PgPool:
        """The pool full-text searches run on (custom plans, see CUSTOM_PLANS); the API's pool when the
        app was given only that (tests that set `app.state.pool` themselves)."""
        pg: PgPool | None = getattr(self.request.app.state, "search_pool", None)
        return self.pool if pg is None else pg

    @property
    def read_pool(self) -> PgPool:
        """The pool the office's plain lists, deadlines and stats run on (generic plans, see
        GENERIC_PLANS); the API's pool when the app was given only that."""
        pg: PgPool | None = getattr(self.request.app.state, "read_pool", None)
        return self.pool if pg is None else pg


async def reader(request: Request, authorization: Annotated[str | None, Header()] = None) -> Reader:
    principal = await current_user(request, authorization)
    state = request.app.state
    return Reader(principal, state.pool, state.offices, state.settings, request)


async def write_path(request: Request) -> WritePath:
    """The process's write path on its pool (made on first use, and again if the pool was replaced)."""
    state = request.app.state
    w: WritePath | None = getattr(state, "writes", None)
    if w is None or w.pool is not state.pool:
        w = state.writes = WritePath(state.pool, wake_gap_s=state.settings.relay_wake_gap)
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
Reads = Annotated[Reader, Depends(reader)]
