"""Reads from the read models (schema `rm`), read-your-writes waits, and the secret-read log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.requests import HTTPConnection

from api.auth import Principal
from api.deps import PgPool
from api.errors import Problem
from processors import queries
from producers import store
from schemas.acts import is_act_stream

_POLL_S = 0.005


async def wait_for_position(pool: PgPool, position: int, timeout_ms: int) -> None:
    """Return once the read models include the event at `position` (X-Vanthu-Position of a write)."""
    async with pool.acquire() as conn:
        at = await store.stream_version_at(conn, position)
        if at is None:
            raise Problem(
                422, "unknown-position", "Unknown position", f"after={position}: no event has that position"
            )
        stream_id, version = at
        if is_act_stream(stream_id):  # a term or a calendar: the write side's own tables hold it already
            return
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            applied = await queries.applied_version(conn, stream_id)
            if applied is not None and applied >= version:
                return
            if time.monotonic() >= deadline:
                raise Problem(
                    504,
                    "read-models-behind",
                    "Read models behind",
                    f"the read models did not include position {position} within {timeout_ms} ms; retry",
                )
            await asyncio.sleep(_POLL_S)


async def record_secret_read(pool: PgPool, principal: Principal, doc: Mapping[str, Any], route: str) -> None:
    """Record that the caller was shown this document, when it is secret."""
    await record_secret_reads(pool, principal, [(doc["id"], doc.get("secrecy"))], route)


async def record_secret_reads(
    pool: PgPool,
    principal: Principal,
    shown: Iterable[tuple[str, str | None]],
    route: str | HTTPConnection,
) -> None:
    """Record one row per secret document shown in one answer (a list, a search, an export, the feed);
    `route`: the path recorded, or the request whose URL path it is (worked out only when something
    secret was shown: building a request's URL was about 1.5% of a list's CPU, tests/bench queries)."""
    secret = {document_id: secrecy for document_id, secrecy in shown if secrecy not in (None, "thuong")}
    if not secret:
        return
    if not isinstance(route, str):
        route = route.url.path
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO secret_reads (user_id, office_id, document_id, secrecy, route) "
            "SELECT $1, $2, d, s, $5 FROM unnest($3::text[], $4::text[]) AS x(d, s)",
            principal.user,
            principal.office,
            list(secret),
            list(secret.values()),
            route,
        )
