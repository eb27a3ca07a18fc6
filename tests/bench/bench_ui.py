"""ui_overview: the office overview page (`GET /ui`, what a leader opens first) and the top office's
city view, rendered by the API over the rebuilt read models of the whole dataset, one request at a time
(server time as the client on the same machine sees it; the target is under 300 ms for the biggest office)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from api.auth import issue_token
from api.ui.session import COOKIE
from deploy.config.db import connect
from deploy.config.offices import load_offices
from tests.bench.common import latency_ms, scaled

TARGET_MS = 300.0


async def _timed(http: aiohttp.ClientSession, url: str, token: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        async with http.get(url, headers={"Cookie": f"{COOKIE}={token}"}, allow_redirects=False) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{url}: {resp.status}")
        times.append(time.monotonic() - t0)
    return times


async def run(ctx: Any, base_url: str) -> dict[str, Any]:
    settings = ctx.dataset.settings
    conn = await connect(settings.dsn)
    try:
        sizes = dict(await conn.fetch("SELECT office_id, count(*) FROM rm.documents GROUP BY office_id"))
    finally:
        await conn.close()
    offices = sorted(ctx.dataset.offices, key=lambda o: -sizes.get(o, 0))
    top = next(o.id for o in load_offices(settings.offices_file) if o.parent_id is None)
    n = scaled(30, 5)
    by_office: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        for office in offices[:5]:  # the five biggest offices
            token = issue_token(settings, office=office, roles=["leader"], user=f"leader@{office}")
            await _timed(http, f"{base_url}/ui", token, 2)  # warm
            by_office[office] = {
                "documents": sizes.get(office, 0),
                **latency_ms(await _timed(http, f"{base_url}/ui", token, n)),
            }
        token = issue_token(settings, office=top, roles=["leader"], user=f"leader@{top}")
        city = latency_ms(await _timed(http, f"{base_url}/ui/city", token, max(3, n // 3)))
    biggest = offices[0]
    p99 = by_office[biggest]["p99_ms"]
    plans = await explain_overview(settings, biggest)
    return {
        "biggest_office": biggest,
        "documents": sizes.get(biggest, 0),
        "p50_ms": by_office[biggest]["p50_ms"],
        "p99_ms": p99,
        "target_ms": TARGET_MS,
        "met": p99 is not None and p99 < TARGET_MS,
        "by_office": by_office,
        "city_view": city,
        "plans": plans,
        "parameters": {
            "page": "GET /ui as a leader of each office (cookie), one request at a time, after 2 warm-ups",
            "city": f"GET /ui/city as a leader of {top}",
            "read_models": "the rebuilt read models of the whole dataset",
        },
    }


async def explain_overview(settings: Any, office: str) -> str:
    """`EXPLAIN (ANALYZE, BUFFERS)` of each read of the overview (processors/boards.py `overview`, as the
    page runs it for an uncleared leader), run twice and the warm run kept, written to plans/."""
    from datetime import UTC, date, datetime

    from processors import boards
    from processors.queries import Viewer
    from schemas.deadlines import local_date
    from tests.bench.bench_queries import PLANS, _Explaining

    today = local_date(datetime.now(UTC))
    viewer = Viewer(office, f"leader@{office}")
    conn = await connect(settings.dsn)
    try:
        rows = await conn.fetchval("SELECT count(*) FROM rm.listing WHERE office_id = $1", office)
        explaining = _Explaining(conn)
        for _ in range(2):
            await boards.overview(
                explaining,
                office,
                viewer,
                start=date(today.year, 1, 1),
                today=today,
                due_soon_days=3,
                horizon=365,
            )
    finally:
        await conn.close()
    warm = explaining.plans[len(explaining.plans) // 2 :]
    PLANS.mkdir(exist_ok=True)
    path = PLANS / "ui_overview.txt"
    path.write_text(f"-- ui_overview: office {office} ({rows:,} documents)\n\n" + "\n\n".join(warm) + "\n")
    return str(path.relative_to(PLANS.parent.parent.parent))
