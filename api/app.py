"""The HTTP API application (FastAPI): routers, auth, the error model, request ids, CORS."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware

from api import audit, documents, errors, feed, metrics, office_reads, offices, ops
from api.auth import Verifier
from deploy.db import create_pool
from deploy.settings import Settings
from producers.offices import load_offices

log = logging.getLogger("vanthu.api")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(settings.app_dsn, min_size=2, max_size=20)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(
        title="vanthu",
        version="0.1.0",
        description="Documents and deadlines for committee offices: actions in, read models out.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.verifier = Verifier(settings)
    app.state.offices = load_offices(settings.offices_file)
    errors.install(app)
    metrics.install(app)

    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # PostgreSQL text cannot hold NUL: a %00 in the URL would fail its query (a 500) further in
        if b"%00" in request.scope.get("raw_path", b"") + b"?" + request.scope.get("query_string", b""):
            detail = "the URL contains a NUL character (%00), which no path or parameter may hold"
            return errors.problem_response(request, 400, "bad-character", "Bad character", detail)
        return await call_next(request)

    @app.middleware("http")  # added last, so it runs first: the request id is set for every answer
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        request.state.request_id = rid[:64]
        response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()],
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "Idempotency-Key", "Last-Event-ID"],
            expose_headers=["ETag", "X-Vanthu-Position", "X-Request-ID", "Location"],
        )
    for module in (ops, metrics):
        app.include_router(module.router)
    for module in (offices, office_reads, feed, documents, audit):
        app.include_router(module.router, responses=errors.PROBLEM_RESPONSES)
    return app


app = create_app()
