"""The demo `make run` seeds: today's city, with a history across the change of 1 July 2025."""

from __future__ import annotations

from pathlib import Path

from deploy.city import successors
from deploy.config.db import connect
from deploy.config.settings import Settings
from deploy.demo import seed


async def test_the_demo_is_todays_city_with_its_history_across_the_change(
    settings: Settings, database: str, tmp_path: Path
) -> None:
    s = settings.with_(pg_dsn=database, data_dir=tmp_path, files_dir=tmp_path / "files")
    assert await seed(s, documents=120, quiet=True) > 0
    conn = await connect(database)
    try:
        closed = await conn.fetch("SELECT office_id, closed_on, successors FROM office_closures")
        assert {r["office_id"] for r in closed} == set(successors())
        assert all(str(r["closed_on"]) == "2025-06-30" and r["successors"] for r in closed)
        handed = await conn.fetch(
            """SELECT convert_from(body, 'UTF8')::jsonb -> 'data' AS data FROM events
               WHERE type = 'DocumentHandedOver'"""
        )
        assert handed, "some documents were still open when their district closed"
        assert all(successors()[h["data"]["from_office"]][0] == h["data"]["to_office"] for h in handed)
        created = await conn.fetch(
            """SELECT convert_from(body, 'UTF8')::jsonb #>> '{data,office_id}' AS office, occurred_at
               FROM events
               WHERE version = 1 AND type IN ('DocumentReceived', 'DocumentDrafted', 'TaskCreated')"""
        )
        before = {r["office"] for r in created if r["occurred_at"].date().isoformat() < "2025-06-30"}
        after = {r["office"] for r in created if r["occurred_at"].date().isoformat() > "2025-07-01"}
        # before: the city office and its districts; after: the city office and the new committees only
        assert before & set(successors()) and "tu-hcm" in after
        assert not after & set(successors())
        assert len(after) > 20
        # the city's directives reached every committee at once
        fanout = await conn.fetchval(
            """SELECT max(jsonb_array_length(convert_from(body, 'UTF8')::jsonb #> '{data,recipients}'))
               FROM events WHERE type = 'DocumentIssued'"""
        )
        assert fanout == 168 + 4
        # the 2025–2030 term is set in every office at work then, not in the closed ones
        terms = await conn.fetchval("SELECT count(DISTINCT office_id) FROM office_terms")
        assert terms == 1 + 4 + 168
    finally:
        await conn.close()
