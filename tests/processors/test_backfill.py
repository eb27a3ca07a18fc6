"""The migrations that add the listing and the counters fill them from what `rm` already holds: the same
rows the projector writes, so a migrated deployment equals a rebuild without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from processors.apply import apply_batch
from tests.processors.helpers import Log
from tests.processors.workload import Workload

MIGRATIONS = Path(__file__).resolve().parents[2] / "deploy" / "migrations"


def _backfill(names: list[str]) -> str:
    """The parts of migrations that fill a table from rm's other rows."""
    texts = [(MIGRATIONS / name).read_text() for name in names]
    return "\n".join(text[text.index("-- What rm holds already") :] for text in texts)


@pytest.mark.parametrize(
    ("migrations", "table"),
    [
        (["0070_listing.sql"], "listing"),
        (["0072_stat_counts.sql", "0074_stat_counts_ever.sql"], "stat_counts"),
    ],
)
async def test_a_migration_fills_its_table_as_the_projector_would(
    db: Any, migrations: list[str], table: str
) -> None:
    await apply_batch(db, Log().append(Workload(["o1", "o2", "o3"], seed=9).events(3000)))
    await db.execute(f"CREATE TABLE projected AS SELECT * FROM rm.{table}")
    assert await db.fetchval("SELECT count(*) FROM projected") > 100
    await db.execute(f"DELETE FROM rm.{table}")
    await db.execute(_backfill(migrations))
    if table == "listing":  # generated when 0070 filled it; 0077 kept the values and dropped the expression
        await db.execute(
            """UPDATE rm.listing SET search = to_tsvector('public.vn'::regconfig,
                   coalesce(summary, '') || ' ' || coalesce(title, '') || ' ' || coalesce(number_code, '')
                   || ' ' || coalesce(issuing_body, ''))"""
        )
    differing = await db.fetchval(
        f"""SELECT (SELECT count(*) FROM (SELECT * FROM projected EXCEPT ALL SELECT * FROM rm.{table}) a)
                 + (SELECT count(*) FROM (SELECT * FROM rm.{table} EXCEPT ALL SELECT * FROM projected) b)"""
    )
    assert differing == 0
