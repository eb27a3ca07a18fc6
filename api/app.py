"""The HTTP API application (FastAPI): routers, auth, the error model, request ids, CORS, offline docs."""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import audit, calendar, documents, errors, feed, files, metrics, office_reads, offices, ops
from api.auth import Verifier
from api.deps import READ_POOL_SIZE, open_pool
from api.feed_hub import FeedHub
from api.ui import pages as ui_pages
from deploy.config.offices import load_offices
from deploy.config.settings import Settings
from processors.documents import collect_less
from producers.filestore import file_store, sweep_spool

log = logging.getLogger("vanthu.api")


class RequestEdge:
    """Every answer carries X-Request-ID; a NUL (%00) in the URL is refused with a 400; a body over the
    limit with a 413, before it is read (file uploads, under /v1/files, have their own limit); every
    request passed on is timed by route and status (`observe`, api.metrics.Observe).

    Plain ASGI rather than @app.middleware("http"): that (Starlette's BaseHTTPMiddleware) runs each
    request through anyio streams and a task group, which py-spy showed taking about a quarter of the
    API's CPU per action (tests/bench, command_throughput)."""

    def __init__(self, app: ASGIApp, max_body: int, observe: metrics.Observe | None = None) -> None:
        self.app, self.max_body, self.observe = app, max_body, observe
        # a request's own id: this process's random half and a count (uuid4 per request, a getrandom
        # system call and a UUID object, was about 2% of a read's CPU; py-spy, tests/bench queries)
        half = os.urandom(8).hex()
        self.ids = (f"{half}{n:016x}" for n in itertools.count())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # the two headers read here, from the raw list (the server gives names in lower case): a
        # Headers() per lookup, and the KeyError of a GET's missing Content-Length, were about 6% of a
        # read's CPU (py-spy, tests/bench queries)
        given, length = "", ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = given or value.decode("latin-1")
            elif name == b"content-length" and not length:
                length = value.decode("latin-1")
        rid = (given or next(self.ids))[:64]
        scope.setdefault("state", {})["request_id"] = rid  # what request.state.request_id reads
        rid_header = (b"x-request-id", rid.encode("latin-1"))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                kept = [h for h in message.get("headers", ()) if h[0].lower() != b"x-request-id"]
                message["headers"] = [*kept, rid_header]
            await send(message)

        # PostgreSQL text cannot hold NUL: a %00 in the URL would fail its query (a 500) further in
        if b"%00" in scope.get("raw_path", b"") + b"?" + scope.get("query_string", b""):
            detail = "the URL contains a NUL character (%00), which no path or parameter may hold"
            response = errors.problem_response(Request(scope), 400, "bad-character", "Bad character", detail)
            await response(scope, receive, send_with_id)
            return
        started = time.perf_counter()
        if scope["path"].startswith("/v1/files"):
            await self.app(scope, receive, send_with_id)
            self._observe(scope, status, started)
            return
        limit = self.max_body
        too_large = f"the request body is larger than {limit} bytes"
        if length.isdigit() and int(length) > limit:
            response = errors.problem_response(Request(scope), 413, "too-large", "Body too large", too_large)
            await response(scope, receive, send_with_id)
            return
        received = 0

        async def bounded(  # a body without Content-Length (chunked) is counted as it arrives
        ) -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, too_large)  # FastAPI re-raises it from the body reader
            return message

        await self.app(scope, bounded, send_with_id)
        self._observe(scope, status, started)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        """Latency and command outcomes of a request passed on (api.metrics.Observe)."""
        if self.observe is not None:
            self.observe.record(scope, status, time.perf_counter() - started)


# A serving process collects less often (processors.documents.collect_less): a request allocates thousands
# of objects that reference counting frees, yet every 700 allocations (Python's default) the collector
# walked the young ones still alive, and every object start-up loaded (modules, routes, models) in each
# full collection: about 10-20% of an inbox page's API CPU (in-process, tests/bench queries' requests).
GC_THRESHOLDS = (20_000, 20, 100)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await open_pool(settings.app_dsn)
        app.state.search_pool = await open_pool(
            settings.app_dsn, min_size=1, max_size=10, custom_plans=True, idle_lifetime=0
        )
        app.state.read_pool = await open_pool(
            settings.app_dsn, min_size=1, max_size=READ_POOL_SIZE, generic_plans=True, idle_lifetime=0
        )
        collect_less(GC_THRESHOLDS)
        swept = sweep_spool(app.state.files.spool_dir)
        if swept:
            log.info("removed %d half-written uploads left by an earlier process", swept)
        try:
            yield
        finally:
            await app.state.feed_hub.stop()
            if getattr(app.state, "writes", None) is not None:
                await app.state.writes.wake.close()
            await app.state.read_pool.close()
            await app.state.search_pool.close()
            await app.state.pool.close()

    # Swagger UI and ReDoc from the assets fastapi-offline ships, not a CDN: the offices have no internet
    app = FastAPIOffline(
        title="vanthu",
        version="0.1.0",
        description="Documents and deadlines for committee offices: actions in, read models out.",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry asked, per request, whether a provider was configured (about 1% of
        # a read's CPU); the API reports through its Prometheus metrics (api/metrics.py) instead
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.verifier = Verifier(settings)
    app.state.offices = load_offices(settings.offices_file)
    app.state.feed_hub = FeedHub(
        settings.app_dsn, settings.feed_streams_per_user, settings.feed_streams_total
    )
    app.state.files = file_store(settings)
    errors.install(app)
    # added first, so it runs inside RequestEdge and outside the app's ExceptionMiddleware
    app.add_middleware(
        office_reads.LeanReads, handlers=app.exception_handlers, routes=office_reads.lean_routes()
    )
    # every answer has its id; what passes on is timed by route (the app's metrics)
    observe = metrics.Observe(metrics.install(app))
    app.add_middleware(RequestEdge, max_body=settings.max_body_bytes, observe=observe)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[o.strip() for o in settings.cors_origins.split(",") if o.strip()],
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                "Last-Event-ID",
                "X-File-Name",
                "Range",
                "If-None-Match",
                "If-Range",
            ],
            expose_headers=["ETag", "X-Vanthu-Position", "X-Request-ID", "Location", "Content-Range"],
        )
    for module in (ops, metrics):
        app.include_router(module.router)
    for module in (offices, office_reads, feed, documents, files, calendar, audit):
        app.include_router(module.router, responses=errors.PROBLEM_RESPONSES)
    ui_pages.install(app)  # the web pages under /ui
    return app


app = create_app()
