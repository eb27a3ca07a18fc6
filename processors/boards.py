"""What the web pages' boards ask besides the API's lists: documents waiting for a leader's decision, and
how far each recipient office has got with the documents an office issued.

Visibility is `queries._visible`, the one rule; nothing here decides who sees what on its own."""

from __future__ import annotations

from typing import Any

from deploy.config.db import Conn
from processors.queries import LIST_COLUMNS, S, Viewer, _visible

# What waits for a leader: an incoming document registered or submitted and not yet assigned, a draft in
# review (to approve and sign), a task not yet assigned, an open assignment whose extension request is
# not decided yet.
_WAITING = """(
    (d.kind = 'incoming' AND d.state IN ('registered', 'submitted'))
    OR (d.kind = 'outgoing' AND d.state = 'review')
    OR (d.kind = 'task' AND d.state = 'open')
    OR (d.state IN ('assigned', 'in_progress') AND EXISTS (
        SELECT 1 FROM jsonb_array_elements(d.data -> 'assignments') a
        WHERE a ->> 'ended_at' IS NULL AND jsonb_array_length(coalesce(a -> 'extensions', '[]')) > 0
          AND (a -> 'extensions' -> -1 ->> 'approved') IS NULL)))"""


async def waiting_for_leader(
    conn: Conn, office_id: str, viewer: Viewer, *, limit: int = 20
) -> tuple[int, list[dict[str, Any]]]:
    """How many of the office's documents wait for a leader, and the oldest `limit` of them."""
    if viewer.office_id != office_id:
        return 0, []
    seen = _visible("d", "$1", "$2", viewer.clearance_rank)
    total = await conn.fetchval(
        f"""SELECT count(*) FROM {S}.documents d WHERE d.office_id = $1 AND {seen} AND {_WAITING}""",
        office_id,
        viewer.user_id,
    )
    rows = await conn.fetch(
        f"""SELECT {LIST_COLUMNS} FROM {S}.documents d
            JOIN {S}.listing l ON l.document_id = d.id AND l.office_id = d.office_id
            WHERE d.office_id = $1 AND {seen} AND {_WAITING}
            ORDER BY d.updated_at, d.id LIMIT $3""",
        office_id,
        viewer.user_id,
        limit,
    )
    return int(total or 0), [dict(r) for r in rows]


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
