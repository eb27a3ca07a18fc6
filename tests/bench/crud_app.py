"""The baseline for command_throughput: a plain CRUD endpoint, FastAPI + asyncpg, one row updated per
request, served like the API (uvicorn, one process, the same pool size) on the same database."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request

from api.deps import POOL_SIZE
from deploy.config.db import create_pool

TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_items (id integer PRIMARY KEY, version integer NOT NULL, body jsonb)"
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await create_pool(os.environ["VANTHU_PG_DSN"], min_size=2, max_size=POOL_SIZE)
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/items/{item_id}")
async def update_item(
    item_id: int, request: Request, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Update one row and answer it."""
    row = await request.app.state.pool.fetchrow(
        "UPDATE bench_items SET version = version + 1, body = $2 WHERE id = $1 RETURNING id, version",
        item_id,
        body,
    )
    return {"id": row["id"], "version": row["version"]}
