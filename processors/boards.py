"""What the web pages' boards ask besides the API's lists: documents waiting for a leader's decision, and
how far each recipient office has got with the documents an office issued.

Visibility is `queries._visible`, the one rule; nothing here decides who sees what on its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from deploy.config.db import Conn
from processors import queries
from processors.queries import LIST_COLUMNS, S, Viewer, _visible

# What waits for a leader is decided when the document's rows are written (processors/rows.py
# `waits_for_leader`) and read as one index range of the office's waiting rows (document_offices_waiting).


async def waiting_for_leader(
    conn: Conn, office_id: str, viewer: Viewer, *, limit: int = 20
) -> tuple[int, list[dict[str, Any]]]:
    """How many of the office's documents wait for a leader, and the oldest `limit` of them: one read of
    the office's listing rows for the waiting documents (each document once, however many reasons)."""
    if viewer.office_id != office_id:
        return 0, []
    rows = await conn.fetch(
        f"""SELECT {LIST_COLUMNS}, count(*) OVER () AS waiting_total FROM {S}.listing l
            WHERE l.office_id = $1 AND l.document_id IN (SELECT o.document_id FROM {S}.document_offices o
                                                         WHERE o.office_id = $1 AND o.waits_for_leader)
              AND {_visible("l", "$1", "$2", viewer.clearance_rank)}
            ORDER BY l.updated_at, l.document_id LIMIT $3""",
        office_id,
        viewer.user_id,
        limit,
    )
    total = int(rows[0]["waiting_total"]) if rows else 0
    return total, [{k: v for k, v in r.items() if k != "waiting_total"} for r in rows]


@dataclass(frozen=True)
class Overview:
    """What the office overview shows a leader (GET /ui)."""

    stats: dict[str, Any]
    counted_secret: list[tuple[str, str]]  # the secret documents the counts include (secret-read log)
    urgent: list[dict[str, Any]]
    waiting_total: int
    waiting: list[dict[str, Any]]


async def overview(
    conn: Conn,
    office_id: str,
    viewer: Viewer,
    *,
    start: date,
    today: date,
    due_soon_days: int,
    horizon: int,
    urgent: int = 10,
    waiting: int = 15,
) -> Overview:
    """The overview's reads, each an index range of the office's rows (tests/processors/test_boards.py
    holds them to that): the report's counts from the counters, the secret documents they include, the
    most urgent open deadlines, and what waits for a leader."""
    stats, counted = await queries.stats_and_secrets(conn, office_id, start, today, viewer)
    page = await queries.deadlines(
        conn, office_id, viewer, due_within=horizon, limit=urgent, today=today, due_soon_days=due_soon_days
    )
    total, rows = await waiting_for_leader(conn, office_id, viewer, limit=waiting)
    return Overview(stats, counted, page.items, total, rows)


_PROGRESS = """count(*) FILTER (WHERE x.state = 'pending') AS not_received,
    count(*) FILTER (WHERE x.state = 'received') AS not_registered,
    count(*) FILTER (WHERE x.state IN ('registered', 'submitted', 'assigned', 'in_progress')) AS open,
    count(*) FILTER (WHERE x.state IN ('completed', 'filed', 'for_info')) AS completed,
    count(*) FILTER (WHERE x.state IN ('returned', 'recalled')) AS returned_or_recalled,
    count(*) AS delivered"""


async def delivery_progress(conn: Conn, office_id: str, viewer: Viewer) -> list[dict[str, Any]]:
    """Per recipient office, how many of the documents this office issued (those the viewer may see) it
    has not yet received, received but not registered, registered and still open, completed."""
    if viewer.office_id != office_id:
        return []
    rows = await conn.fetch(
        f"""SELECT x.office_id, {_PROGRESS}
            FROM {S}.deliveries x JOIN {S}.documents d ON d.id = x.source_document_id
            WHERE x.source_office_id = $1 AND d.office_id = $1
              AND {_visible("d", "$1", "$2", viewer.clearance_rank)}
            GROUP BY x.office_id ORDER BY x.office_id""",
        office_id,
        viewer.user_id,
    )
    return [dict(r) for r in rows]


async def latest_issued(
    conn: Conn, office_id: str, viewer: Viewer, *, limit: int = 10
) -> list[dict[str, Any]]:
    """The office's most recently issued documents the viewer may see, each with its recipients' states."""
    if viewer.office_id != office_id:
        return []
    rows = await conn.fetch(
        f"""SELECT d.id, d.summary, d.number_code, d.document_type, d.secrecy, d.issued_on,
                   coalesce(jsonb_object_agg(x.office_id, x.state) FILTER (WHERE x.office_id IS NOT NULL),
                            '{{}}') AS states
            FROM {S}.documents d LEFT JOIN {S}.deliveries x ON x.source_document_id = d.id
            WHERE d.office_id = $1 AND d.issued_on IS NOT NULL
              AND {_visible("d", "$1", "$2", viewer.clearance_rank)}
            GROUP BY d.id ORDER BY d.issued_on DESC, d.updated_at DESC, d.id LIMIT $3""",
        office_id,
        viewer.user_id,
        limit,
    )
    return [dict(r) for r in rows]
