"""The live feed: one entry per office that sees a changed document, numbered per office.

The projector writes it in the transaction that applied the events, with one NOTIFY on FEED_CHANNEL per
office and batch carrying `{"office_id", "seq"}` (the office's last seq); the API's feed hub reads the
office's new rows from the table on such a notice, and a stream reads the table itself to resume.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from deploy.config.db import Conn
from processors.combine import Combined
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
            "state": after.state._value_,  # the member's own attribute (`value` is a descriptor call)
            "secrecy": after.secrecy._value_ if after.secrecy is not None else None,
            "position": int(position) if position and position.isdigit() else None,
            "partition": record.partition,
            "offset": record.offset,
        }
        for office in offices_of(after)
    ]


async def write_feed(conn: Conn, notes: Sequence[dict[str, Any]], into: Combined | None = None) -> None:
    """Append the changes to each office's feed with the office's next seqs, then one NOTIFY per office
    carrying the office and its last seq (listeners read the new rows from the table), all in one
    statement (`into`: as the last query of that statement).

    The counter rows are taken in sorted office order (no deadlock between workers); each stays locked
    until commit, so one office's feed rows commit in seq order."""
    if not notes:
        return
    by_office: dict[str, list[dict[str, Any]]] = {}
    for note in notes:
        by_office.setdefault(note["office_id"], []).append(note)
    offices = sorted(by_office)
    # The entries go as one JSON array of [nth, entry] (asyncpg checks every element of an array
    # parameter against abstract classes: seven arrays cost it about 30 checks per event).
    entries = orjson.dumps([[n, item] for o in offices for n, item in enumerate(by_office[o], start=1)])
    sql = """WITH n AS (SELECT * FROM unnest($1::text[], $2::bigint[]) AS n(office_id, count)),
                c AS (INSERT INTO public.feed_counters (office_id, seq)
                      SELECT office_id, count FROM n ORDER BY office_id
                      ON CONFLICT (office_id) DO UPDATE SET seq = feed_counters.seq + EXCLUDED.seq
                      RETURNING office_id, seq),
                x AS (SELECT e -> 1 ->> 'office_id' AS office_id, (e ->> 0)::bigint AS nth, e -> 1 AS entry
                      FROM jsonb_array_elements($3::text::jsonb) AS e),
                f AS (INSERT INTO public.feed (office_id, seq, document_id, version, type, secrecy, payload)
                      SELECT x.office_id, c.seq - n.count + x.nth, x.entry ->> 'document_id',
                             (x.entry ->> 'version')::integer, x.entry ->> 'type', x.entry ->> 'secrecy',
                             x.entry || jsonb_build_object('seq', c.seq - n.count + x.nth)
                      FROM x JOIN c USING (office_id) JOIN n USING (office_id))
           SELECT count(pg_notify($4, json_build_object('office_id', c.office_id, 'seq', c.seq)::text))
           FROM c"""
    args = (offices, [len(by_office[o]) for o in offices], entries.decode(), FEED_CHANNEL)
    if into is not None:
        into.finish(sql, *args)
    else:
        await conn.execute(sql, *args)
