"""command_throughput: actions/s through the HTTP API with 64 concurrent clients, each acting on its own
documents (report_progress with If-Match), against a plain CRUD endpoint on the same database in the
same run. The server runs on one core, the load generator on the other; relay and processor are not
running (an action's work ends at its commit; the outbox just grows)."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

from deploy.config.db import connect
from producers import store
from producers.hashing import GENESIS
from tests.bench.common import CpuMeter, seconds
from tests.bench.crud_app import TABLE
from tests.bench.loadgen import closed_loop, summary
from tests.bench.system import Services, discard, fresh, token_headers
from tests.processors.workload import incoming_body, story
from tests.unit import lifecycle

CLIENTS = 64
DOCS_PER_CLIENT = 16
ASSIGN = lifecycle.body("assign", lead={"unit": "u-1"}, cooperating=[], deadline={"working_days": 10})


async def seed(dsn: str, offices: list[str]) -> list[tuple[str, str]]:
    """CLIENTS × DOCS_PER_CLIENT incoming documents, registered, submitted and assigned (written straight
    into the store). Returns (document id, office) per document, client by client."""
    docs = []
    conn = await connect(dsn)
    try:
        for i in range(CLIENTS * DOCS_PER_CLIENT):
            office = offices[(i // DOCS_PER_CLIENT) % len(offices)]
            doc = str(uuid.uuid4())
            envelopes = story(
                doc,
                incoming_body(office),
                [{"action": "register"}, {"action": "submit"}, ASSIGN],
                number=i + 1,
            )
            async with conn.transaction():
                await store.append(conn, envelopes, GENESIS)
            docs.append((doc, office))
        await conn.execute(TABLE)
        await conn.execute(
            "INSERT INTO bench_items SELECT g, 0, '{}' FROM generate_series(0, $1) g", len(docs) - 1
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return docs


def api_call(settings: Any, docs: list[tuple[str, str]], base_url: str) -> Any:
    versions = dict.fromkeys((d for d, _ in docs), 4)
    turn = [0] * CLIENTS
    headers = {o: token_headers(settings, o, "clerk", "specialist", "leader") for _, o in docs}

    async def call(http: aiohttp.ClientSession, i: int) -> int:
        k = turn[i] = (turn[i] + 1) % DOCS_PER_CLIENT
        doc, office = docs[i * DOCS_PER_CLIENT + k]
        body = {"action": "report_progress", "percent": 50, "note": "Đang xử lý, đã họp tổ công tác"}
        h = {**headers[office], "If-Match": f'"{versions[doc]}"'}
        async with http.post(f"{base_url}/v1/documents/{doc}/actions", json=body, headers=h) as resp:
            data = await resp.json(content_type=None)
            if resp.status in (200, 409) and isinstance(data, dict):
                versions[doc] = int(data.get("current_version") or data.get("version") or versions[doc])
            return resp.status

    return call


def crud_call(base_url: str) -> Any:
    turn = [0] * CLIENTS

    async def call(http: aiohttp.ClientSession, i: int) -> int:
        k = turn[i] = (turn[i] + 1) % DOCS_PER_CLIENT
        body = {"percent": 50, "note": "Đang xử lý, đã họp tổ công tác"}
        async with http.post(f"{base_url}/items/{i * DOCS_PER_CLIENT + k}", json=body) as resp:
            await resp.read()
            return resp.status

    return call


async def measure(services: Services, name: str, app: str, call: Any, duration: float) -> dict[str, Any]:
    services.api(app, name=name)
    try:
        cpu = CpuMeter(pids={"server": services.pid(name)}).start()
        run = await closed_loop(call, CLIENTS, duration, warmup=2.0)
        return {**summary(run), "cpu": cpu.stop()}
    finally:
        services.stop(name)


async def run(ctx: Any) -> dict[str, Any]:
    settings, _ = await fresh(ctx.settings, "command")
    services = Services(settings)
    try:
        docs = await seed(settings.dsn, ctx.dataset.offices if ctx.dataset else ["tu-hcm"])
        duration = seconds(30, 5)
        ours = await measure(
            services, "api", "api.app:app", api_call(settings, docs, services.base_url), duration
        )
        base = await measure(
            services, "crud", "tests.bench.crud_app:app", crud_call(services.base_url), duration
        )
    finally:
        services.stop_all()
        await discard(settings, ctx.settings)
    return {
        "actions_per_s": ours["rate_per_s"],
        "p50_ms": ours["p50_ms"],
        "p99_ms": ours["p99_ms"],
        "api": ours,
        "baseline": {"what": "tests/bench/crud_app.py: POST /items/{id} → one UPDATE … RETURNING", **base},
        "ratio_vs_crud": round(ours["rate_per_s"] / base["rate_per_s"], 3) if base["rate_per_s"] else None,
        "parameters": {
            "clients": CLIENTS,
            "documents": len(docs),
            "action": "POST /v1/documents/{id}/actions report_progress with If-Match (each client cycles "
            "over 16 documents of its own, so no conflicts), JWT on every request",
            "duration_s": duration,
            "server": "uvicorn, one process, pinned to core 0 (taskset); load generator pinned to core 1; "
            "Postgres unpinned",
            "bulk_loaded": "the 1,024 assigned documents are written straight into the store",
        },
    }
