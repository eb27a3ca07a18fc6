"""Fixtures of the write side: a pool of the services' own role on a fresh database, and command makers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
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

NOW = datetime(2024, 4, 26, 2, 0, tzinfo=UTC)  # Friday 26/4/2024, 09:00 in Hà Nội
CLERK = Actor(user="u-clerk", office="tu-hcm", roles=("clerk", "leader"))

INCOMING: dict[str, Any] = {
    "kind": "incoming",
    "office_id": "tu-hcm",
    "issuing_body": "Ban Tổ chức Trung ương",
    "number_code": "125-CV/BTCTW",
    "document_date": "2024-04-20",
    "document_type": "CV",
    "summary": "Về việc chuẩn bị nhân sự đại hội",
}
OUTGOING: dict[str, Any] = {
    "kind": "outgoing",
    "office_id": "tu-hcm",
    "document_type": "CV",
    "summary": "Về việc báo cáo tình hình",
}
TASK: dict[str, Any] = {"kind": "task", "office_id": "tu-hcm", "title": "Chuẩn bị báo cáo"}
ASSIGN: dict[str, Any] = {
    "action": "assign",
    "lead": {"unit": "tu-hcm.tong-hop"},
    "directive": "Xử lý",
    "deadline": {"working_days": 5},
}


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
    for body in ({"action": "submit_review"}, {"action": "review", "approve": True}, {"action": "sign"}):
        doc = await act(pool, doc, body)
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
