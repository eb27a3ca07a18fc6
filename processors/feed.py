"""The live feed: one entry per office that sees a changed document, numbered per office and NOTIFYed.

The projector writes it in the transaction that applied the events; the API's SSE route listens on
FEED_CHANNEL and reads the table to resume.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from deploy.config.db import Conn
from processors.records import Record
from processors.rows import offices_of
from schemas.envelope import Envelope
from schemas.state import DocumentState
from schemas.upcasting import current_type

FEED_CHANNEL = "vanthu_feed"


def notifications(after: DocumentState, envelope: Envelope, record: Record) -> list[dict[str, Any]]:
    """One feed entry per office that sees the document (`offices_of`: its own)."""
    position = record.header("position")
    return [
        {
            "office_id": office,
            "document_id": after.id,
            "version": envelope.version,
            "type": current_type(envelope.type),
            "state": after.state.value,
            "secrecy": after.secrecy.value if after.secrecy is not None else None,
            "position": int(position) if position and position.isdigit() else None,
            "partition": record.partition,
            "offset": record.offset,
        }
        for office in offices_of(after)
    ]


async def write_feed(conn: Conn, notes: Sequence[dict[str, Any]]) -> None:
    """Append the changes to each office's feed with the office's next seqs, then NOTIFY them.

    Offices are locked in sorted order (no deadlock between workers); each counter row stays locked until
    commit, so one office's feed rows commit in seq order."""
    if not notes:
        return
    by_office: dict[str, list[dict[str, Any]]] = {}
    for note in notes:
        by_office.setdefault(note["office_id"], []).append(note)
    offices = sorted(by_office)
    # One statement takes every office's seqs, locking the counter rows in sorted order.
    counters = await conn.fetch(
        """INSERT INTO public.feed_counters (office_id, seq)
           SELECT o, n FROM unnest($1::text[], $2::bigint[]) AS x(o, n) ORDER BY o
           ON CONFLICT (office_id) DO UPDATE SET seq = feed_counters.seq + EXCLUDED.seq
           RETURNING office_id, seq""",
        offices,
        [len(by_office[o]) for o in offices],
    )
    rows, payloads = [], []
    for counter in counters:
        office, last = counter["office_id"], counter["seq"]
        items = by_office[office]
        for seq, item in enumerate(items, start=last - len(items) + 1):
            payload = json.dumps({**item, "seq": seq}, separators=(",", ":"), ensure_ascii=False)
            rows.append(
                (office, seq, item["document_id"], item["version"], item["type"], item["secrecy"], payload)
            )
            payloads.append(payload)
    # The payload goes in as text, cast by PostgreSQL: encoded once, for the row and the NOTIFY alike.
    await conn.executemany(
        """INSERT INTO public.feed (office_id, seq, document_id, version, type, secrecy, payload)
           VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)""",
        rows,
    )
    await conn.execute("SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) AS p", FEED_CHANNEL, payloads)
