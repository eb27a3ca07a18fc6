"""Register numbers (số đến, số đi) taken from a counter row in the appending transaction.

The row stays locked until that transaction ends, so concurrent registrations in one series queue up,
and a rolled-back transaction gives its number back: the series stays unique and gap-free.
"""

from __future__ import annotations

from deploy.config.db import Conn
from schemas.numbering import NumberRequest


async def take_number(conn: Conn, request: NumberRequest) -> int:
    number: int = await conn.fetchval(
        """
        INSERT INTO register_counters AS c (office_id, register, series, period, last_number)
        VALUES ($1, $2, $3, $4, 1)
        ON CONFLICT (office_id, register, series, period) DO UPDATE SET last_number = c.last_number + 1
        RETURNING last_number
        """,
        request.office_id,
        request.register,
        request.series,
        request.period,
    )
    return number
