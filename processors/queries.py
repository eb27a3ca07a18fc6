"""What the API asks the read models, with office scoping and secrecy filtering.

Every function takes a connection (or pool proxy) and a `Viewer`. The visibility rule lives here, once,
in two forms (`visible` on a document, `_visible` in SQL): an office sees only its own documents (a
recipient office sees its incoming copy, never the sender's original), and a secret document only a
viewer cleared for its level, granted it, or its creator. Deadline statuses are computed here, from the
stored due date, today's date and the calendar.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from deploy.config.db import Conn
from processors import cursors
from processors.schema import LIVE_SCHEMA
from producers.acts import load_calendar
from schemas.calendar import Calendar
from schemas.deadlines import assignment_view, deadline_view, local_date
from schemas.enums import Secrecy

S = LIVE_SCHEMA
ONE_DAY = timedelta(days=1)
DEFAULT_DUE_SOON_DAYS = 3  # as Settings.due_soon_days; callers pass the office's own window


@dataclass(frozen=True)
class Viewer:
    office_id: str
    user_id: str | None = None
    clearance: str | None = None  # mat | toi_mat | tuyet_mat: sees secret documents up to that level

    @property
    def clearance_rank(self) -> int:
        return Secrecy.rank_of(self.clearance)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


# Secrecy.rank in SQL: "WHEN 'mat' THEN 1 WHEN 'toi_mat' THEN 2 ..." (ELSE 0: thuong, or none)
_RANK_CASES = " ".join(f"WHEN '{s.value}' THEN {s.rank}" for s in Secrecy if s.rank)


def visible(viewer: Viewer, doc: Mapping[str, Any], secrecy: str | None = None) -> bool:
    """The visibility rule on a document as it is now (its `office_id`, `secrecy`, `access`, `created_by`).

    `secrecy` overrides the document's level: the highest it ever had, for `as_of` and the history (a
    past version of a now-secret document is secret too, and a declassified past stays as secret as it
    was)."""
    if doc.get("office_id") != viewer.office_id:
        return False
    need = Secrecy.rank_of(doc.get("secrecy") if secrecy is None else secrecy)
    if need == 0 or viewer.clearance_rank >= need:
        return True
    user = viewer.user_id
    return user is not None and (user in (doc.get("access") or ()) or user == doc.get("created_by"))


def highest_secrecy(levels: Iterable[str | None]) -> str | None:
    """The most secret of the levels a document has had."""
    return max(levels, key=Secrecy.rank_of, default=None)


def _visible(
    alias: str, office_param: str, user_param: str, clearance_rank: int = 0, owner: str | None = None
) -> str:
    """SQL form of `visible`: the viewer's office owns the document, and may see its secrecy level
    (clearance, a grant, or its creator). `owner`: the column naming the owning office, when not the
    document's own (a register row stays with the office that registered it after a hand-over)."""
    rank = f"(CASE {alias}.secrecy {_RANK_CASES} ELSE 0 END)"
    owner = owner or f"{alias}.office_id"
    return (
        f"({owner} = {office_param} AND ({alias}.secrecy IS NULL OR {alias}.secrecy = 'thuong' "
        f"OR {rank} <= {int(clearance_rank)} OR {alias}.created_by = {user_param} "
        f"OR EXISTS (SELECT 1 FROM {S}.document_access x WHERE x.document_id = {alias}.id "
        f"AND x.user_id = {user_param})))"
    )


async def visible_ids(conn: Conn, document_ids: Iterable[str], viewer: Viewer) -> dict[str, str | None]:
    """Those of these documents the viewer may see, each with its secrecy, judged on the read models (the
    document as it is now)."""
    ids = sorted(set(document_ids))
    if not ids:
        return {}
    rows = await conn.fetch(
        f"""SELECT d.id, d.secrecy FROM {S}.documents d
            WHERE d.id = ANY($1::text[]) AND {_visible("d", "$2", "$3", viewer.clearance_rank)}""",
        ids,
        viewer.office_id,
        viewer.user_id,
    )
    return {r["id"]: r["secrecy"] for r in rows}


def _today(today: date | None) -> date:
    return today or local_date(datetime.now(UTC))


async def get_document(
    conn: Conn,
    document_id: str,
    viewer: Viewer,
    *,
    today: date | None = None,
    due_soon_days: int = DEFAULT_DUE_SOON_DAYS,
    calendar: Calendar | None = None,
) -> dict[str, Any] | None:
    """The document as `GET /v1/documents/{id}` shows it, or None when the viewer may not see it."""
    row = await conn.fetchrow(
        f"""SELECT d.data, o.relation FROM {S}.documents d
            JOIN {S}.document_offices o ON o.document_id = d.id AND o.office_id = $2
            WHERE d.id = $1 AND {_visible("d", "$2", "$3", viewer.clearance_rank)}""",
        document_id,
        viewer.office_id,
        viewer.user_id,
    )
    if row is None:
        return None
    day = _today(today)
    doc: dict[str, Any] = dict(row["data"])
    doc["relation"] = row["relation"]
    cal = calendar or await load_calendar(conn)
    doc["assignments"] = [assignment_view(a, day, due_soon_days, cal) for a in doc.get("assignments", [])]
    recorded = {d["office_id"]: d for d in doc.get("deliveries") or []}
    doc["deliveries"] = await deliveries(conn, document_id, recorded)
    await _text_indexed(conn, doc.get("attachments") or [])
    return doc


async def _text_indexed(conn: Conn, attachments: list[dict[str, Any]]) -> None:
    """Mark each attachment `text_indexed`: true when its text is searchable with `q`, false when it has
    none (a scan without a text layer, or not a PDF), null while the processors have not read it yet."""
    if not attachments:
        return
    rows = await conn.fetch(
        "SELECT sha256, characters FROM public.file_texts WHERE sha256 = ANY($1::text[])",
        [a["sha256"] for a in attachments],
    )
    found = {r["sha256"]: r["characters"] > 0 for r in rows}
    for a in attachments:
        a["text_indexed"] = found.get(a["sha256"]) if a.get("media_type") == "application/pdf" else False


async def deliveries(
    conn: Conn, document_id: str, recorded: dict[str, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Each recipient office of an issued document, the channel it went by, its copy and that copy's state
    (pending: no copy yet, or a paper copy not yet registered there), and its answer to a recall.
    `recorded` is the document's own deliveries (DocumentState), by office."""
    rows = await conn.fetch(
        f"""SELECT office_id, copy_document_id AS document_id, state, updated_at
            FROM {S}.deliveries WHERE source_document_id = $1 ORDER BY office_id""",
        document_id,
    )
    known = recorded or {}

    def shown(office: str) -> dict[str, Any]:
        d = known.get(office, {})
        return {
            "channel": d.get("channel", "electronic"),
            "recall_answer": d.get("recall_answer"),
            "recall_reason": d.get("recall_reason"),
        }

    return [{**dict(r), **shown(r["office_id"])} for r in rows]


async def applied_version(conn: Conn, document_id: str) -> int | None:
    """The document's version in the read models (None: none of its events applied yet)."""
    version: int | None = await conn.fetchval(f"SELECT version FROM {S}.documents WHERE id = $1", document_id)
    return version


LIST_COLUMNS = """d.id, d.kind, d.office_id, d.state, d.version, d.document_type, d.summary, d.title,
    d.number_code, d.issuing_body, d.urgency, d.secrecy, d.incoming_number, d.outgoing_number,
    d.holder_unit, d.holder_user, d.source_office_id, d.source_document_id, d.created_at, d.updated_at,
    o.relation"""


async def list_documents(
    conn: Conn,
    office_id: str,
    viewer: Viewer,
    *,
    kind: str | None = None,
    state: str | None = None,
    relation: str | None = None,
    overdue: bool | None = None,
    due_within: int | None = None,
    q: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    today: date | None = None,
    calendar: Calendar | None = None,
) -> Page:
    """An office's documents, newest first; `q` is accent-insensitive full text over trích yếu, số ký hiệu
    and issuing body; `overdue` / `due_within` (working days) look at open assignments as of today."""
    if viewer.office_id != office_id:
        return Page([], None)
    day = _today(today)
    args: list[Any] = [office_id, viewer.user_id]
    where = ["o.office_id = $1", _visible("d", "$1", "$2", viewer.clearance_rank)]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if kind:
        where.append(f"d.kind = {arg(kind)}")
    if state:
        where.append(f"d.state = {arg(state)}")
    if relation:
        where.append(f"o.relation = {arg(relation)}")
    open_late = f"SELECT 1 FROM {S}.assignments a WHERE a.document_id = d.id AND a.ended_at IS NULL"
    if overdue is True:
        where.append(f"EXISTS ({open_late} AND a.due_date < {arg(day)})")
    elif overdue is False:
        where.append(f"NOT EXISTS ({open_late} AND a.due_date < {arg(day)})")
    if due_within is not None:
        horizon = (calendar or await load_calendar(conn)).add_working_days(day, due_within)
        where.append(f"EXISTS ({open_late} AND a.due_date <= {arg(horizon)})")
    if q and q.strip():
        p = arg(q.strip())
        where.append(
            f"(d.search @@ websearch_to_tsquery('public.vn', {p}) "
            f"OR public.vn_unaccent(lower(d.number_code)) LIKE public.vn_unaccent(lower({p})) || '%' "
            # the text of attached PDFs: the matching files by their index, then the documents holding one
            f"OR d.data -> 'attachments' @> ANY (ARRAY(SELECT jsonb_build_array(jsonb_build_object("
            f"'sha256', ft.sha256)) FROM public.file_texts ft "
            f"WHERE ft.search @@ websearch_to_tsquery('public.vn', {p}))))"
        )
    if cursor:
        at, last_id = cursors.decode("documents", cursor, (datetime, str))
        where.append(f"(o.created_at, d.id) < ({arg(at)}::timestamptz, {arg(last_id)})")
    limit = max(1, min(limit, 500))
    rows = await conn.fetch(
        f"""SELECT {LIST_COLUMNS} FROM {S}.document_offices o JOIN {S}.documents d ON d.id = o.document_id
            WHERE {" AND ".join(where)}
            ORDER BY o.created_at DESC, d.id DESC LIMIT {arg(limit + 1)}""",
        *args,
    )
    items = [dict(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = (
        cursors.encode("documents", [items[-1]["created_at"], items[-1]["id"]]) if more and items else None
    )
    return Page(items, next_cursor)


DeadlineFilter = Literal["overdue", "due_soon", "on_time"]


async def deadlines(
    conn: Conn,
    office_id: str,
    viewer: Viewer,
    *,
    due_within: int,
    status: DeadlineFilter | None = None,
    unit: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    today: date | None = None,
    due_soon_days: int = DEFAULT_DUE_SOON_DAYS,
    calendar: Calendar | None = None,
) -> Page:
    """Open assignments of the office that are overdue or due within `due_within` working days, most
    urgent first (due date, then document and assignment id: a total order, so a keyset cursor sees each
    once); `status` keeps one status, `unit` one lead unit. Raises BadCursor for a cursor not ours."""
    if viewer.office_id != office_id:
        return Page([], None)
    day = _today(today)
    cal = calendar or await load_calendar(conn)
    horizon = cal.add_working_days(day, due_within)
    # A status is a range of due dates on `day`: overdue before it; due soon while the working days left
    # are at most `due_soon_days`, i.e. before the day `due_soon_days + 1` working days on; on time after.
    soon_ends = cal.add_working_days(day, due_soon_days + 1)
    low, high = {
        None: (None, horizon),
        "overdue": (None, day - ONE_DAY),
        "due_soon": (day, min(horizon, soon_ends - ONE_DAY)),
        "on_time": (soon_ends, horizon),
    }[status]
    args: list[Any] = [office_id, viewer.user_id, high]
    where = [
        "a.office_id = $1",
        "a.ended_at IS NULL",
        "a.due_date <= $3",
        _visible("d", "$1", "$2", viewer.clearance_rank),
    ]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if low is not None:
        where.append(f"a.due_date >= {arg(low)}")
    if unit is not None:
        where.append(f"a.lead_unit = {arg(unit)}")
    if cursor:
        due, document, assignment = cursors.decode("deadlines", cursor, (date, str, str))
        where.append(
            f"(a.due_date, a.document_id, a.assignment_id) > ({arg(due)}, {arg(document)}, {arg(assignment)})"
        )
    limit = max(1, min(limit, 500))
    rows = await conn.fetch(
        f"""SELECT a.document_id, coalesce(d.summary, d.title) AS summary, d.secrecy, a.assignment_id,
                   a.lead_unit, a.lead_user, a.due_date
            FROM {S}.assignments a JOIN {S}.documents d ON d.id = a.document_id
            WHERE {" AND ".join(where)}
            ORDER BY a.due_date, a.document_id, a.assignment_id LIMIT {arg(limit + 1)}""",
        *args,
    )
    out = []
    for r in rows[:limit]:
        lead = {"unit": r["lead_unit"]} if r["lead_unit"] else {"user": r["lead_user"]}
        out.append(
            {
                "document_id": r["document_id"],
                "assignment_id": r["assignment_id"],
                "summary": r["summary"],
                "secrecy": r["secrecy"],
                "lead": lead,
                "due_date": r["due_date"],
                **deadline_view(r["due_date"], day, None, due_soon_days, cal),
            }
        )
    more = len(rows) > limit
    last = out[-1] if out else None
    next_cursor = (
        cursors.encode("deadlines", [last["due_date"], last["document_id"], last["assignment_id"]])
        if more and last
        else None
    )
    return Page(out, next_cursor)


_COUNTS = (
    "received",
    "issued",
    "completed_on_time",
    "completed_late",
    "open_within_deadline",
    "open_past_deadline",
)


async def stats(
    conn: Conn,
    office_id: str,
    date_from: date,
    date_to: date,
    *,
    viewer: Viewer | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Báo cáo tình hình giải quyết văn bản: counts for the office and per lead unit over [from, to].
    Open work is judged as of min(to, today). Secret documents count only for a viewer who may see them
    (no viewer: everything, for internal use)."""
    as_of = min(date_to, _today(today))
    # $4 is the viewing user; without a viewer it is still bound (NULL) so every query has the same params
    seen = (
        _visible("d", "$1", "$4", viewer.clearance_rank)
        if viewer is not None
        else "($4::text IS NULL OR true)"
    )
    user = viewer.user_id if viewer is not None else None
    total = dict.fromkeys(_COUNTS, 0)
    total["received"] = int(
        await conn.fetchval(
            f"""SELECT count(*) FROM {S}.documents d WHERE d.office_id = $1 AND d.kind = 'incoming'
                AND (d.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date BETWEEN $2 AND $3 AND {seen}""",
            office_id,
            date_from,
            date_to,
            user,
        )
    )
    total["issued"] = int(
        await conn.fetchval(
            f"""SELECT count(*) FROM {S}.documents d WHERE d.office_id = $1 AND d.issued_on BETWEEN $2 AND $3
                AND {seen}""",
            office_id,
            date_from,
            date_to,
            user,
        )
    )
    rows = await conn.fetch(
        f"""SELECT a.lead_unit AS unit_id,
              count(*) FILTER (WHERE (a.assigned_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date BETWEEN $2 AND $3)
                  AS received,
              count(*) FILTER (WHERE a.completed_on BETWEEN $2 AND $3 AND a.completed_on <= a.due_date)
                  AS completed_on_time,
              count(*) FILTER (WHERE a.completed_on BETWEEN $2 AND $3 AND a.completed_on > a.due_date)
                  AS completed_late,
              count(*) FILTER (WHERE a.ended_at IS NULL AND a.due_date >= $5) AS open_within_deadline,
              count(*) FILTER (WHERE a.ended_at IS NULL AND a.due_date < $5) AS open_past_deadline
            FROM {S}.assignments a JOIN {S}.documents d ON d.id = a.document_id
            WHERE a.office_id = $1 AND {seen}
            GROUP BY a.lead_unit ORDER BY a.lead_unit NULLS LAST""",
        office_id,
        date_from,
        date_to,
        user,
        as_of,
    )
    units = []
    for r in rows:
        unit = {"unit_id": r["unit_id"], "issued": 0, **{k: int(r[k]) for k in _COUNTS if k != "issued"}}
        units.append(unit)
        for k in _COUNTS[2:]:
            total[k] += unit[k]
    return {"total": total, "units": units}


async def counted_secret(
    conn: Conn, office_id: str, date_from: date, date_to: date, viewer: Viewer
) -> list[tuple[str, str]]:
    """The secret documents `stats` counts for this viewer over [from, to] (for the secret-read log)."""
    rows = await conn.fetch(
        f"""SELECT d.id, d.secrecy FROM {S}.documents d
            WHERE d.office_id = $1 AND coalesce(d.secrecy, 'thuong') <> 'thuong'
              AND {_visible("d", "$1", "$4", viewer.clearance_rank)}
              AND ((d.kind = 'incoming'
                    AND (d.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date BETWEEN $2 AND $3)
                   OR d.issued_on BETWEEN $2 AND $3
                   OR EXISTS (SELECT 1 FROM {S}.assignments a WHERE a.document_id = d.id
                       AND (a.ended_at IS NULL
                            OR (a.assigned_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date BETWEEN $2 AND $3
                            OR a.completed_on BETWEEN $2 AND $3)))
            ORDER BY d.id""",
        office_id,
        date_from,
        date_to,
        viewer.user_id,
    )
    return [(r["id"], r["secrecy"]) for r in rows]


async def register(
    conn: Conn,
    office_id: str,
    which: Literal["incoming", "outgoing"],
    year: int,
    viewer: Viewer,
    *,
    series: str | None = None,
) -> list[dict[str, Any]]:
    """Sổ đăng ký văn bản đến / đi of a year, in number order (per register or series)."""
    if viewer.office_id != office_id:
        return []
    table, by = (
        ("incoming_register", "register_name") if which == "incoming" else ("outgoing_register", "series")
    )
    rows = await conn.fetch(
        f"""SELECT r.* FROM {S}.{table} r JOIN {S}.documents d ON d.id = r.document_id
            WHERE r.office_id = $1 AND r.year = $2 AND ($3::text IS NULL OR r.{by} = $3)
              AND {_visible("d", "$1", "$4", viewer.clearance_rank, owner="r.office_id")}
            ORDER BY r.{by}, r.number""",
        office_id,
        year,
        series,
        viewer.user_id,
    )
    return [dict(r) for r in rows]


async def outgoing_report(
    conn: Conn, office_id: str, date_from: date, date_to: date, viewer: Viewer
) -> list[dict[str, Any]]:
    """Báo cáo tình hình văn bản đi: per document type issued in [from, to], the documents and how far
    each recipient's copy has got (not yet received, received, in handling, handled, returned/recalled)."""
    if viewer.office_id != office_id:
        return []
    rows = await conn.fetch(
        f"""SELECT r.document_type,
                   count(DISTINCT r.document_id) AS issued,
                   count(x.office_id) AS deliveries,
                   count(x.office_id) FILTER (WHERE x.state = 'pending') AS not_received,
                   count(x.office_id) FILTER (WHERE x.state IN ('received', 'registered', 'submitted'))
                       AS received,
                   count(x.office_id) FILTER (WHERE x.state IN ('assigned', 'in_progress')) AS in_handling,
                   count(x.office_id) FILTER (WHERE x.state IN ('completed', 'filed', 'for_info')) AS handled,
                   count(x.office_id) FILTER (WHERE x.state IN ('returned', 'recalled'))
                       AS returned_or_recalled
            FROM {S}.outgoing_register r
            JOIN {S}.documents d ON d.id = r.document_id
            LEFT JOIN {S}.deliveries x ON x.source_document_id = r.document_id
            WHERE r.office_id = $1 AND r.issued_on BETWEEN $2 AND $3
              AND {_visible("d", "$1", "$4", viewer.clearance_rank)}
            GROUP BY r.document_type ORDER BY r.document_type""",
        office_id,
        date_from,
        date_to,
        viewer.user_id,
    )
    return [dict(r) for r in rows]
