"""Prometheus metrics: request latency, command outcomes, projection lag, relay backlog."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import Scope

from api.deps import Pool, SettingsDep
from processors import metrics as projection
from producers import store

router = APIRouter(tags=["operations"])


class Metrics:
    """One registry per app, so tests that build several apps never collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "vanthu_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["method", "route", "status"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
            registry=self.registry,
        )
        self.commands = Counter(
            "vanthu_commands_total",
            "Document commands by action and outcome.",
            ["action", "outcome"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "vanthu_projection_lag_events",
            "Events on the topic not yet in the read models.",
            ["partition"],
            registry=self.registry,
        )
        self.age = Gauge(
            "vanthu_projection_newest_event_age_seconds",
            "Age of the newest event in the read models.",
            registry=self.registry,
        )
        self.backlog = Gauge(
            "vanthu_relay_backlog_events",
            "Stored events not yet acknowledged by Kafka.",
            registry=self.registry,
        )
        self.dead = Gauge(
            "vanthu_dead_letters_open", "Dead-lettered records not resolved.", registry=self.registry
        )
        self.tasks = Gauge(
            "vanthu_processor_tasks_pending", "Saga tasks waiting to run.", registry=self.registry
        )
        self.blocked = Gauge(
            "vanthu_documents_blocked",
            "Documents whose later events wait behind an open dead letter.",
            registry=self.registry,
        )
        self.failed = Gauge(
            "vanthu_processor_tasks_failed",
            "Saga tasks that failed for good (vanthu deadletters redrive).",
            registry=self.registry,
        )


class Observe:
    """Request latency by route template, and command outcomes: recorded by api.app.RequestEdge for each
    request it passes on (one ASGI layer rather than two: a layer of its own, with its own wrapper of
    every message sent, was about 3% of a read's CPU; py-spy, tests/bench queries)."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics
        # each (method, route, status)'s histogram, found once: prometheus_client's labels() takes a
        # lock and builds the key on every call
        self.latencies: dict[tuple[str, str, int], Any] = {}

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        method, m = scope["method"], self.m
        template = getattr(scope.get("route"), "path", "unmatched")  # the router sets it in this scope
        key = (method, template, status)
        histogram = self.latencies.get(key)
        if histogram is None:
            histogram = self.latencies[key] = m.latency.labels(method, template, str(status))
        histogram.observe(seconds)
        if template == "/v1/documents/{document_id}/actions" or (
            template == "/v1/documents" and method == "POST"
        ):
            state = scope.get("state", {})  # what request.state.action wrote
            action = state.get("action", "create" if template == "/v1/documents" else "unknown")
            m.commands.labels(action, _outcome(status)).inc()


def install(app: FastAPI) -> Metrics:
    m = Metrics()
    app.state.metrics = m
    return m


async def _metrics(request: Request) -> Metrics:
    m: Metrics = request.app.state.metrics
    return m


MetricsDep = Annotated[Metrics, Depends(_metrics)]


def _outcome(status: int) -> str:
    return {200: "ok", 201: "ok", 409: "conflict", 422: "refused", 428: "refused"}.get(
        status, "error" if status >= 500 else "rejected"
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}},
)
async def metrics(m: MetricsDep, settings: SettingsDep, pool: Pool) -> Response:
    """Prometheus text: request latency histograms, command outcomes, projection lag, relay backlog."""
    # Kafka first, holding no pool connection: this route needs no token, and a slow or unreachable
    # broker must not let callers drain the pool the API answers with.
    try:
        ends = await asyncio.wait_for(projection.end_offsets(settings.bootstrap, settings.events_topic), 5)
    except Exception:  # Kafka down: the other figures still matter; readyz reports the outage
        ends = {}
    async with pool.acquire() as conn:
        m.backlog.set(await store.outbox_backlog(conn))
        age = await projection.newest_event_age(conn)
        if age is not None:
            m.age.set(age)
        m.dead.set(await projection.open_dead_letters(conn))
        m.tasks.set(await projection.pending_tasks(conn))
        m.blocked.set(await projection.blocked_documents(conn))
        m.failed.set(await projection.failed_tasks(conn))
        for lag in await projection.partition_lag(conn, settings.events_topic, ends):
            m.lag.labels(str(lag.partition)).set(lag.lag)
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
