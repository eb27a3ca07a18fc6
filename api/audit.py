"""`/v1/audit`: verify the event store's hash chain and anchors; who read which secret document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder

from api.deps import CurrentUser, Pool
from producers import audit

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/verify")
async def verify(principal: CurrentUser, pool: Pool) -> dict[str, Any]:
    """Check every hash link and anchor; report the first broken event (auditor)."""
    principal.require("auditor")
    async with pool.acquire() as conn:
        report = await audit.verify(conn)
    return report.to_dict()


@router.get("/secret-reads")
async def secret_reads(
    principal: CurrentUser,
    pool: Pool,
    document_id: Annotated[str | None, Query(max_length=100)] = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Every read of a secret document of the auditor's office, newest first (auditor)."""
    principal.require("auditor")
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT r.at, r.user_id, r.office_id, r.document_id, r.secrecy, r.route
               FROM secret_reads r JOIN rm.documents d ON d.id = r.document_id
               WHERE d.office_id = $1 AND ($2::text IS NULL OR r.document_id = $2)
                 AND ($3::timestamptz IS NULL OR r.at >= $3)
               ORDER BY r.at DESC, r.id DESC LIMIT $4""",
            principal.office,
            document_id,
            since,
            limit,
        )
    return {"items": jsonable_encoder([dict(r) for r in rows])}
