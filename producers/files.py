"""What the system knows of stored files (table `files`, `file_uploads`): who uploaded them, what they are,
whether a document attaches them; and the collection of uploads never attached."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from deploy.config.db import Conn
from producers.filestore import FileStore


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    media_type: str
    name: str


async def record_upload(
    conn: Conn, sha256: str, size: int, media_type: str, name: str, user: str, office: str
) -> None:
    """Record an upload by `office`; a repeated upload keeps the first name and type but counts as fresh
    (it will not be collected soon), and waits for a collection of the same bytes to finish first."""
    await conn.execute(
        """INSERT INTO files (sha256, size, media_type, name, uploaded_by, office_id)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (sha256) DO UPDATE SET uploaded_at = clock_timestamp()""",
        sha256,
        size,
        media_type,
        name,
        user,
        office,
    )
    await conn.execute(
        "INSERT INTO file_uploads (sha256, office_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", sha256, office
    )


async def attach(conn: Conn, sha256s: list[str], office: str) -> dict[str, StoredFile]:
    """Mark the files among `sha256s` that `office` uploaded as attached (never collected) and return
    them; the others are unknown to that office. Waits for a collection holding one of them."""
    rows = await conn.fetch(
        """UPDATE files f SET attached_at = coalesce(f.attached_at, clock_timestamp())
           FROM file_uploads u
           WHERE u.sha256 = f.sha256 AND u.office_id = $2 AND f.sha256 = ANY($1::text[])
           RETURNING f.sha256, f.size, f.media_type, f.name""",
        sha256s,
        office,
    )
    return {r["sha256"]: StoredFile(r["sha256"], r["size"], r["media_type"], r["name"]) for r in rows}


async def collect_unattached(pool: asyncpg.Pool[Any], store: FileStore, older_than: timedelta) -> int:
    """Delete the uploads that no document attached within `older_than`: their bytes, then their rows.
    The rows stay locked meanwhile, so an attach or a re-upload of the same bytes waits for the end."""
    collected = 0
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """SELECT sha256 FROM files
               WHERE attached_at IS NULL AND uploaded_at < clock_timestamp() - $1::interval
               ORDER BY uploaded_at LIMIT 1000 FOR UPDATE SKIP LOCKED""",
            older_than,
        )
        for row in rows:
            await store.delete(row["sha256"])
            collected += 1
        await conn.execute("DELETE FROM files WHERE sha256 = ANY($1::text[])", [r["sha256"] for r in rows])
    return collected
