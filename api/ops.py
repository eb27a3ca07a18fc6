"""Operations: liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import Pool, SettingsDep
from processors import metrics as projection

router = APIRouter(tags=["operations"])


def _kafka_reachable(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        return bool(admin.list_topics())
    finally:
        admin.close()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Kafka or PostgreSQL unreachable"}})
async def readyz(settings: SettingsDep, pool: Pool) -> JSONResponse:
    """Kafka and PostgreSQL are reachable."""
    checks: dict[str, Any] = {}
    try:
        async with pool.acquire() as conn:
            checks["postgres"] = await conn.fetchval("SELECT 1") == 1
    except Exception as exc:  # readiness reports failures, it does not raise them
        checks["postgres"] = f"unreachable: {exc}"
    try:
        checks["kafka"] = await asyncio.wait_for(
            asyncio.to_thread(_kafka_reachable, settings.bootstrap), timeout=5
        )
    except Exception as exc:
        checks["kafka"] = f"unreachable: {exc}"
    ready = all(v is True for v in checks.values())
    # Stuck work needs an operator, not a restart: shown, but it does not make the service unready.
    attention: dict[str, Any] = {}
    if checks["postgres"] is True:
        async with pool.acquire() as conn:
            attention["blocked_documents"] = await projection.blocked_documents(conn)
            attention["failed_tasks"] = await projection.failed_tasks(conn)
    body = {"ready": ready, "checks": checks, "attention": attention}
    return JSONResponse(body, status_code=200 if ready else 503)
