"""Uploads that no document attached in time are collected: their bytes and their rows; attached ones stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from deploy.config.db import create_pool
from deploy.config.settings import Settings
from producers import files as records
from producers.filestore import file_store, spool


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_unattached_uploads_are_collected(files_settings: Settings, database: str) -> None:
    store = file_store(files_settings)
    pool = await create_pool(files_settings.with_(pg_dsn=database).app_dsn, min_size=1, max_size=2)
    try:
        shas = []
        for data in (b"kept: attached", b"collected: never attached", b"fresh: uploaded just now"):
            s = await spool(one(data), store.spool_dir, 1000)
            async with pool.acquire() as conn:
                await records.record_upload(conn, s.sha256, s.size, "text/plain", "a.txt", "u1", "tu-hcm")
            await store.put(s)
            shas.append(s.sha256)
        kept, collected, fresh = shas
        async with pool.acquire() as conn:
            assert set(await records.attach(conn, [kept], "tu-hcm")) == {kept}
            assert await records.attach(conn, [collected], "qu-1") == {}  # not that office's upload
            await conn.execute(
                "UPDATE files SET uploaded_at = uploaded_at - interval '2 days' WHERE sha256 = ANY($1)",
                [kept, collected],
            )
        assert await records.collect_unattached(pool, store, timedelta(hours=24)) == 1
        assert await store.size(collected) is None
        assert await store.size(kept) is not None and await store.size(fresh) is not None
        async with pool.acquire() as conn:
            left = {r["sha256"] for r in await conn.fetch("SELECT sha256 FROM files")}
        assert left == {kept, fresh}
    finally:
        await pool.close()
