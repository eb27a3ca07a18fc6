"""Looking at the live read models from a test."""

from __future__ import annotations

from typing import Any


async def applied(conn: Any, topic: str) -> int:
    """How many records of `topic` the live read models have consumed."""
    total = await conn.fetchval(
        """SELECT coalesce(sum("offset" + 1), 0) FROM rm.offsets WHERE projection = 'read_models'
           AND topic = $1""",
        topic,
    )
    return int(total)
