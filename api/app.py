"""The HTTP API application (FastAPI). Today: liveness and readiness of the stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from deploy.db import create_pool
from deploy.settings import Settings


def _kafka_reachable(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        return bool(admin.list_topics())
    finally:
        admin.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(settings.dsn, min_size=1, max_size=10)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(title="vanthu", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    async def readyz() -> JSONResponse:
        """Kafka and PostgreSQL are reachable."""
        checks: dict[str, Any] = {}
        try:
            async with app.state.pool.acquire() as conn:
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
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    return app


app = create_app()
