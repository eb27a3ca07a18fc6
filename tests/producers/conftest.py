"""Fixtures of the write side: a pool of the services' own role on a fresh database, and command makers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from deploy.config.db import connect, create_pool
from deploy.config.settings import APP_ROLE, with_user
from producers.handler import HandleRequest, HandleResult, handle
from schemas.enums import DocumentKind
from schemas.envelope import Actor
from schemas.parsing import parse_action, parse_create
from tests.toolkit import OFFICES
from tests.unit.lifecycle import NOW, body, create_body

CLERK = Actor(user="u-clerk", office="tu-hcm", roles=("clerk", "leader"))

INCOMING = create_body("incoming", "tu-hcm")
OUTGOING = create_body("outgoing", "tu-hcm")
TASK = create_body("task", "tu-hcm")
ASSIGN = body("assign", lead={"unit": "tu-hcm.tong-hop"}, cooperating=[], deadline={"working_days": 5})


@pytest.fixture
def app_dsn(database: str) -> str:
    """The fresh database, reached as the services' role (INSERT/SELECT only on events)."""
    return with_user(database, APP_ROLE)


@pytest.fixture
async def pool(app_dsn: str) -> AsyncIterator[asyncpg.Pool[Any]]:
    p = await create_pool(app_dsn, min_size=2, max_size=30)
    yield p
    await p.close()


@pytest.fixture
async def admin(database: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    """A superuser connection to the same database, for looking behind the role's back."""
    conn = await connect(database)
    yield conn
    await conn.close()


def new_id() -> str:
    return str(uuid.uuid4())


async def create(pool: Any, body: dict[str, Any], document_id: str | None = None, **kw: Any) -> HandleResult:
    return await handle(
        pool,
        HandleRequest(
            parse_create(body),
            document_id=document_id or new_id(),
            expected_version=0,
            actor=CLERK,
            now=NOW,
            **kw,
        ),
        OFFICES,
    )


async def act(
    pool: Any, result: HandleResult, body: dict[str, Any], now: datetime = NOW, **kw: Any
) -> HandleResult:
    state = result.state
    assert state.kind is not None
    return await handle(
        pool,
        HandleRequest(
            parse_action(DocumentKind(state.kind), body),
            document_id=state.id,
            expected_version=state.version,
            actor=CLERK,
            now=now,
            **kw,
        ),
        OFFICES,
    )


@pytest.fixture
async def other_database(stack: object, settings: Any) -> AsyncIterator[str]:
    """A second fresh, migrated database (for restores); dropped afterwards."""
    from tests.conftest import create_database, drop_database

    dsn = await create_database(settings)
    yield dsn
    await drop_database(settings, dsn)


async def populate(pool: Any, bulk_docs: int = 30, rounds: int = 20) -> dict[str, Any]:
    """A store with real documents (registered, issued) and bulk streams; returns some of its ids."""
    from tests.producers.bulk import Streams

    incoming = [
        await act(pool, await create(pool, {**INCOMING, "number_code": f"{i}-CV/X"}), {"action": "register"})
        for i in range(3)
    ]
    doc = await create(pool, OUTGOING)
    for action in (
        {"action": "submit_review"},
        {"action": "review", "approve": True},
        {"action": "sign", "signer_name": "Nguyễn Văn A", "signer_position": "Phó Bí thư"},
    ):
        doc = await act(pool, doc, action)
    issued = await act(pool, doc, {"action": "issue", "recipients": ["qu-1"]})
    streams = Streams(bulk_docs)
    async with pool.acquire() as conn:
        for _ in range(rounds):
            await streams.append_round(conn, 5)
    return {
        "incoming": [r.state.id for r in incoming],
        "issued": issued.state.id,
        "bulk": list(streams.versions),
    }
