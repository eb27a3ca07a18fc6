"""The real PostgreSQL server through asyncpg, and the migrations that shape it."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.config.db import connect
from deploy.migrate import MIGRATIONS, MigrationError, load, migrate


async def test_asyncpg_writes_and_reads_back(database: str) -> None:
    conn = await connect(database)
    try:
        await conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL, meta jsonb)")
        await conn.executemany(
            "INSERT INTO notes (body, meta) VALUES ($1, $2)",
            [("Công văn số 123-CV/TU", {"urgency": "khan"}), ("Quyết định", {"urgency": "thuong"})],
        )
        rows = await conn.fetch("SELECT body, meta FROM notes ORDER BY id")
    finally:
        await conn.close()
    assert [(r["body"], r["meta"]) for r in rows] == [
        ("Công văn số 123-CV/TU", {"urgency": "khan"}),
        ("Quyết định", {"urgency": "thuong"}),
    ]


async def test_migrations_are_recorded_and_safe_to_run_twice(database: str) -> None:
    conn = await connect(database)
    try:
        recorded = [
            r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY 1")
        ]
        assert recorded == [m.version for m in load()]
        assert await migrate(conn) == []  # the fixture already migrated: a second run applies nothing
        assert await conn.fetchval("SELECT unaccent('quyết định')") == "quyet dinh"
    finally:
        await conn.close()


async def test_new_migrations_apply_in_order_and_edited_ones_are_refused(
    database: str, tmp_path: Path
) -> None:
    for f in sorted(MIGRATIONS.glob("*.sql")):
        (tmp_path / f.name).write_text(f.read_text())
    (tmp_path / "9001_first.sql").write_text("CREATE TABLE m_order (step text);")
    (tmp_path / "9002_second.sql").write_text("INSERT INTO m_order VALUES ('after first');")
    conn = await connect(database)
    try:
        assert await migrate(conn, tmp_path) == ["9001_first", "9002_second"]
        assert await conn.fetchval("SELECT step FROM m_order") == "after first"
        (tmp_path / "9001_first.sql").write_text("CREATE TABLE m_order (step text, edited int);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, tmp_path)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_applied(database: str, tmp_path: Path) -> None:
    (tmp_path / "9001_broken.sql").write_text("CREATE TABLE half (x int); SELECT no_such_function();")
    conn = await connect(database)
    try:
        with pytest.raises(Exception, match="no_such_function"):
            await migrate(conn, tmp_path)
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE version = 9001") == 0
    finally:
        await conn.close()
