"""What the API asks the read models, with office scoping and secrecy filtering.

Every function takes a connection (or pool proxy) and a `Viewer`. The visibility rule lives here, once,
in two forms (`visible` on a document, `_visible` in SQL): an office sees only its own documents (a
recipient office sees its incoming copy, never the sender's original), and a secret document only a
viewer cleared for its level, granted it, or its creator. Deadline statuses are computed here, from the
stored due date, today's date and the calendar.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from deploy.config.db import Conn
from processors import cursors
from processors.calendar_days import after_working_days_sql, ordinal_sql
from processors.schema import LIVE_SCHEMA
from producers.acts import load_calendar
from schemas.calendar import Calendar
from schemas.deadlines import assignment_view, local_date, open_deadline_sql
from schemas.enums import Secrecy

S = LIVE_SCHEMA
MAX_CHAR = "\U0010ffff"  # sorts after every text that starts the same
MAX_RANK = max(s.rank for s in Secrecy)  # sees everything (stats for internal use)
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
    (clearance, a grant, or its creator). `alias` is a `documents` row, or a `listing` row (`l`), which
    carries its document's office, secrecy rank and creator. `owner`: the column naming the owning
    office, when not the document's own (a register row stays with the office that registered it after a
    hand-over)."""
    if alias == "l":
        office, rank, document = "l.document_office_id", "l.secrecy_rank", "l.document_id"
    else:
        office, rank, document = (
            f"{alias}.office_id",
            f"(CASE {alias}.secrecy {_RANK_CASES} ELSE 0 END)",
            f"{alias}.id",
        )
    office = owner or office
    return (
        f"({office} = {office_param} AND ({rank} <= {int(clearance_rank)} "
        f"OR {alias}.created_by = {user_param} "
        f"OR EXISTS (SELECT 1 FROM {S}.document_access x WHERE x.document_id = {document} "
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


LIST_COLUMNS = """l.document_id AS id, l.kind, l.document_office_id AS office_id, l.state, l.version,
    l.document_type, l.summary, l.title, l.number_code, l.issuing_body, l.urgency, l.secrecy,
    l.incoming_number, l.outgoing_number, l.holder_unit, l.holder_user, l.source_office_id,
    l.source_document_id, l.created_at, l.updated_at, l.relation"""


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
) -> Page:
    """An office's documents, newest first; `q` is accent-insensitive full text over trích yếu, số ký hiệu
    and issuing body; `overdue` / `due_within` (working days) look at open assignments as of today.
    Reads the listing rows only, in the order of an index on (office, [kind,] created_at, id), from the
    cursor on. Raises BadCursor for a cursor not ours."""
    if viewer.office_id != office_id:
        return Page([], None)
    day = _today(today)
    args: list[Any] = [office_id, viewer.user_id]
    where = ["l.office_id = $1", _visible("l", "$1", "$2", viewer.clearance_rank)]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if kind:
        where.append(f"l.kind = {arg(kind)}")
    if state:
        where.append(f"l.state = {arg(state)}")
    if relation:
        where.append(f"l.relation = {arg(relation)}")
    open_late = f"SELECT 1 FROM {S}.assignments a WHERE a.document_id = l.document_id AND a.ended_at IS NULL"
    if overdue is True:
        where.append(f"EXISTS ({open_late} AND a.due_date < {arg(day)})")
    elif overdue is False:
        where.append(f"NOT EXISTS ({open_late} AND a.due_date < {arg(day)})")
    if due_within is not None:
        horizon = after_working_days_sql(S, f"{arg(day)}::date", f"{arg(due_within)}::int")
        where.append(f"EXISTS ({open_late} AND a.due_date <= {horizon})")
    if q and q.strip():
        # The text query and the number prefix are worked out first and bound as values, so the index
        # scans take them as keys and no plan evaluates them per row; a prefix is the range of texts from
        # it up to it followed by the last code point (text_pattern_ops compares bytes).
        text_query, prefix = await _search_terms(conn, q.strip())
        query = arg(text_query)
        number = "public.vn_unaccent(lower(l.number_code))"
        start = arg(prefix)
        where.append(
            f"(l.search @@ {query}::tsquery "
            # the range is what the number index takes; the same folding called directly (vn_unaccent's
            # own body) first tells a row that does not start with the prefix for one call of C instead
            # of two calls of an SQL function (whose range is within the texts starting with it)
            f"OR (public.unaccent('public.unaccent'::regdictionary, lower(l.number_code)) ^@ {start} "
            f"AND {number} ~>=~ {start} AND {number} ~<~ {arg(prefix + MAX_CHAR)}) "
            # the text of attached PDFs: the matching files by their index, then this office's documents
            # holding one
            f"OR l.attachments && ARRAY(SELECT ft.sha256 FROM public.file_texts ft "
            f"WHERE ft.search @@ {query}::tsquery))"
        )
    if cursor:
        at, last_id = cursors.decode("documents", cursor, (datetime, str))
        where.append(f"(l.created_at, l.document_id) < ({arg(at)}::timestamptz, {arg(last_id)})")
    limit = max(1, min(limit, 500))
    rows = await conn.fetch(
        f"""SELECT {LIST_COLUMNS} FROM {S}.listing l
            WHERE {" AND ".join(where)}
            ORDER BY l.created_at DESC, l.document_id DESC LIMIT {arg(limit + 1)}""",
        *args,
    )
    items = [dict(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = (
        cursors.encode("documents", [items[-1]["created_at"], items[-1]["id"]]) if more and items else None
    )
    return Page(items, next_cursor)


_TERMS: OrderedDict[str, tuple[str, str]] = OrderedDict()  # recent searches' terms (a pure function of q)
_TERMS_KEPT = 2048


async def _search_terms(conn: Conn, q: str) -> tuple[str, str]:
    """The text query and the accent-free number prefix of `q`, as PostgreSQL's `vn` configuration makes
    them (immutable functions of `q`: remembered for the searches asked again, a round trip saved)."""
    known = _TERMS.get(q)
    if known is not None:
        _TERMS.move_to_end(q)
        return known
    terms = await conn.fetchrow(
        "SELECT websearch_to_tsquery('public.vn', $1)::text AS query, "
        "public.vn_unaccent(lower($1)) AS prefix",
        q,
    )
    assert terms is not None  # a SELECT without FROM answers one row
    _TERMS[q] = found = (terms["query"], terms["prefix"])
    if len(_TERMS) > _TERMS_KEPT:
        _TERMS.popitem(last=False)
    return found


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
) -> Page:
    """Open assignments of the office that are overdue or due within `due_within` working days, most
    urgent first (due date, then document and assignment id: a total order, so a keyset cursor sees each
    once); `status` keeps one status, `unit` one lead unit. Status and working days left are computed in
    SQL from the working-day ordinals (processors/calendar_days.py), and the page is read in the order of
    the open assignments' index. Raises BadCursor for a cursor not ours."""
    if viewer.office_id != office_id:
        return Page([], None)
    args: list[Any] = [office_id, viewer.user_id, _today(today), due_within, due_soon_days]
    status_sql, left_sql = open_deadline_sql(
        "a.due_date", "dc.ordinal", "$3::date", ordinal_sql(S, "$3::date"), "$5"
    )
    where = [
        "a.office_id = $1",
        "a.ended_at IS NULL",
        f"a.due_date <= {after_working_days_sql(S, '$3::date', '$4::int')}",
        _visible("l", "$1", "$2", viewer.clearance_rank),
    ]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    # A status is a range of due dates: overdue before today; due soon from today until the day
    # `due_soon_days + 1` working days on; on time from then.
    if status == "overdue":
        where.append("a.due_date < $3")
    elif status is not None:
        soon_ends = after_working_days_sql(S, "$3::date", f"{arg(due_soon_days + 1)}::int")
        where.append(
            f"a.due_date >= {soon_ends}"
            if status == "on_time"
            else f"a.due_date >= $3 AND a.due_date < {soon_ends}"
        )
    if unit is not None:
        where.append(f"a.lead_unit = {arg(unit)}")
    if cursor:
        due, document, assignment = cursors.decode("deadlines", cursor, (date, str, str))
        where.append(
            f"(a.due_date, a.document_id, a.assignment_id) > ({arg(due)}, {arg(document)}, {arg(assignment)})"
        )
    limit = max(1, min(limit, 500))
    rows = await conn.fetch(
        f"""SELECT a.document_id, a.assignment_id, coalesce(l.summary, l.title) AS summary, l.secrecy,
                   a.lead_unit, a.lead_user, a.due_date,
                   {status_sql} AS status, {left_sql} AS working_days_left
            FROM {S}.assignments a
            JOIN {S}.listing l ON l.office_id = a.office_id AND l.document_id = a.document_id
            LEFT JOIN {S}.calendar_days dc ON dc.day = a.due_date
            WHERE {" AND ".join(where)}
            ORDER BY a.due_date, a.document_id, a.assignment_id LIMIT {arg(limit + 1)}""",
        *args,
    )
    out = []
    for r in rows[:limit]:
        item = dict(r)
        lead_unit, lead_user = item.pop("lead_unit"), item.pop("lead_user")
        item["lead"] = {"unit": lead_unit} if lead_unit else {"user": lead_user}
        out.append(item)
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
    seen: list[Any] | None = None,
    counters: Iterable[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Báo cáo tình hình giải quyết văn bản: counts for the office and per lead unit over [from, to].
    Open work is judged as of min(to, today). Secret documents count only for a viewer who may see them
    (no viewer: everything, for internal use): the counters (processors/counters.py) up to the viewer's
    clearance, and, counted from their rows, the few documents above it the viewer sees as their creator
    or by a grant. `seen`: the viewer's `_secret_seen` rows, and `counters`: the summed counters
    (`_COUNTERS`), when the caller already read them."""
    as_of = min(date_to, _today(today))
    rank = MAX_RANK if viewer is None else viewer.clearance_rank
    if counters is None:
        counters = await conn.fetch(_COUNTERS, office_id, date_from, date_to, rank, as_of)
    total, units = _fold(counters)

    def unit(unit_id: str | None) -> dict[str, Any]:
        return units.setdefault(unit_id, {"unit_id": unit_id, **dict.fromkeys(_COUNTS, 0)})

    if viewer is not None and rank < MAX_RANK and viewer.user_id is not None:
        await _count_granted(conn, office_id, date_from, date_to, as_of, viewer, total, unit, seen)
    listed = sorted(units.values(), key=lambda u: (u["unit_id"] is None, u["unit_id"] or ""))
    for u in listed:
        for k in _COUNTS[2:]:
            total[k] += u[k]
    return {"total": total, "units": listed}


# The counters a report over [$2, $3] reads, up to secrecy rank $4: open assignments by due date (past it
# or not is judged as of $5), which units ever led one, and the other measures on days of the period. One
# exact range of the primary key (office, measure, day, ...) per office and measure, not an office's
# every row.
_EVERY_DAY = ("open", "assignments")
_IN_PERIOD = ("received", "issued", "assigned", "completed_on_time", "completed_late")


def _counted(offices: str) -> str:
    branches = [
        f"""SELECT office_id, unit_id, measure, day, n FROM {S}.stat_counts
            WHERE {offices} AND measure = '{measure}' AND secrecy_rank <= $4{days}"""
        for measures, days in ((_EVERY_DAY, ""), (_IN_PERIOD, " AND day BETWEEN $2 AND $3"))
        for measure in measures
    ]
    return "(" + " UNION ALL ".join(branches) + ")"


_SUMS = """sum(n) FILTER (WHERE measure <> 'open' OR day >= $5) AS n,
    sum(n) FILTER (WHERE measure = 'open' AND day < $5) AS past"""
# An office's summed counters for a report: $1 office, $2 and $3 the period, $4 the viewer's secrecy rank,
# $5 the day open work is judged on.
_COUNTERS = f"""SELECT unit_id, measure, {_SUMS} FROM {_counted("office_id = $1")} c
    GROUP BY unit_id, measure"""


def _fold(rows: Iterable[Mapping[str, Any]]) -> tuple[dict[str, int], dict[str | None, dict[str, Any]]]:
    """The office's counts and each lead unit's from the summed counters (unit_id, measure, n, past); the
    units' counts of assignments are not yet added to the total."""
    total = dict.fromkeys(_COUNTS, 0)
    units: dict[str | None, dict[str, Any]] = {}
    for r in rows:
        measure, n, past = r["measure"], int(r["n"] or 0), int(r["past"] or 0)
        if measure in ("received", "issued") and r["unit_id"] == "":
            total[measure] += n
            continue
        unit_id = r["unit_id"] or None
        counts = units.setdefault(unit_id, {"unit_id": unit_id, **dict.fromkeys(_COUNTS, 0)})
        if measure == "assigned":
            counts["received"] += n
        elif measure == "open":
            counts["open_within_deadline"] += n
            counts["open_past_deadline"] += past
        elif measure in ("completed_on_time", "completed_late"):
            counts[measure] += n
    return total, units


async def office_totals(
    conn: Conn, office_ids: Iterable[str], date_from: date, date_to: date, *, today: date | None = None
) -> dict[str, dict[str, int]]:
    """Each office's six counts over [from, to] as `stats` gives them to an uncleared viewer of that
    office with no grants and nothing created (so never counting a secret document): one read of the
    counters for all the offices, not one per office. Offices with nothing counted answer zeros."""
    ids = sorted(set(office_ids))
    out = {o: dict.fromkeys(_COUNTS, 0) for o in ids}
    if not ids:
        return out
    rows = await conn.fetch(
        f"""SELECT office_id, unit_id, measure, {_SUMS} FROM {_counted("office_id = ANY($1::text[])")} c
            GROUP BY office_id, unit_id, measure ORDER BY office_id""",
        ids,
        date_from,
        date_to,
        0,  # an uncleared viewer's rank
        min(date_to, _today(today)),
    )
    by_office: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_office.setdefault(r["office_id"], []).append(r)
    for office, found in by_office.items():
        total, units = _fold(found)
        for u in units.values():
            for k in _COUNTS[2:]:
                total[k] += u[k]
        out[office] = total
    return out


async def _count_granted(
    conn: Conn,
    office_id: str,
    date_from: date,
    date_to: date,
    as_of: date,
    viewer: Viewer,
    total: dict[str, int],
    unit: Any,
    seen: list[Any] | None = None,
) -> None:
    """Add the documents above the viewer's clearance that the viewer sees as their creator or by a grant
    (the rest of the visibility rule), counted from their rows as the counters count."""
    if seen is None:
        seen = await _secret_seen(conn, office_id, viewer, above_clearance=True)
    rank = viewer.clearance_rank
    ids = [r["document_id"] for r in seen if Secrecy.rank_of(r["secrecy"]) > rank]
    if not ids:
        return
    docs = await conn.fetch(
        f"""SELECT count(*) FILTER (WHERE d.kind = 'incoming'
                   AND (d.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date BETWEEN $2 AND $3) AS received,
                   count(*) FILTER (WHERE d.issued_on BETWEEN $2 AND $3) AS issued
            FROM {S}.documents d WHERE d.id = ANY($1::text[])""",
        ids,
        date_from,
        date_to,
    )
    total["received"] += int(docs[0]["received"])
    total["issued"] += int(docs[0]["issued"])
    rows = await conn.fetch(
        f"""SELECT a.lead_unit AS unit_id,
              count(*) FILTER (WHERE (a.assigned_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date BETWEEN $2 AND $3)
                  AS received,
              count(*) FILTER (WHERE a.completed_on BETWEEN $2 AND $3 AND a.completed_on <= a.due_date)
                  AS completed_on_time,
              count(*) FILTER (WHERE a.completed_on BETWEEN $2 AND $3 AND a.completed_on > a.due_date)
                  AS completed_late,
              count(*) FILTER (WHERE a.ended_at IS NULL AND a.due_date >= $4) AS open_within_deadline,
              count(*) FILTER (WHERE a.ended_at IS NULL AND a.due_date < $4) AS open_past_deadline
            FROM {S}.assignments a WHERE a.document_id = ANY($1::text[]) AND a.office_id = $5
            GROUP BY a.lead_unit""",
        ids,
        date_from,
        date_to,
        as_of,
        office_id,
    )
    for r in rows:
        counts = unit(r["unit_id"])
        for k in _COUNTS:
            if k != "issued":
                counts[k] += int(r[k])


def _secret_seen_sql(rank: int, *, above_clearance: bool, office: str, user: str) -> str:
    """`_secret_seen`'s statement (document_id, secrecy) for a viewer of this clearance rank, with its
    office and user as these parameters. Written so that a generic plan is as good as one planned for its
    values (PostgreSQL had planned it anew on every call: pg_prepared_statements showed no generic plan
    chosen): the rank is part of the statement (one of four), so `secrecy_rank > 0` matches the partial
    index of the office's secret rows, which a parameter does not; and the viewer's grants are looked up
    by the user's own index, then the office's rows by key, where a generic plan estimated a user's
    grants by the average user (hundreds) and hash-joined the office's secret rows to them."""
    rank_param = str(int(rank))
    mine = f"""SELECT l.document_id, l.secrecy FROM {S}.listing l
               WHERE l.office_id = {office} AND l.secrecy_rank > {rank_param} AND l.created_by = {user}
                 AND {_visible("l", office, user, rank)}
               UNION
               SELECT l.document_id, l.secrecy FROM {S}.listing l
               WHERE l.office_id = {office}
                 AND l.document_id = ANY(ARRAY(SELECT x.document_id FROM {S}.document_access x
                                               WHERE x.user_id = {user}))
                 AND l.secrecy_rank > {rank_param} AND {_visible("l", office, user, rank)}"""
    cleared = f"""UNION SELECT l.document_id, l.secrecy FROM {S}.listing l
                  WHERE l.office_id = {office} AND l.document_office_id = {office}
                    AND l.secrecy_rank > 0 AND l.secrecy_rank <= {rank_param}"""
    # an uncleared viewer has no "up to the clearance" part: no read of the office's secret rows for it
    return mine if above_clearance or rank == 0 else f"{mine} {cleared}"


async def _secret_seen(conn: Conn, office_id: str, viewer: Viewer, *, above_clearance: bool) -> list[Any]:
    """The office's secret documents the viewer may see (with their secrecy): all of them up to the
    viewer's clearance unless `above_clearance`, and those above it the viewer created or was granted."""
    rank = int(viewer.clearance_rank)
    whole = _secret_seen_sql(rank, above_clearance=above_clearance, office="$1", user="$2")
    return list(await conn.fetch(whole, office_id, viewer.user_id))


async def counted_secret(
    conn: Conn,
    office_id: str,
    date_from: date,
    date_to: date,
    viewer: Viewer,
    seen: list[Any] | None = None,
) -> list[tuple[str, str]]:
    """The secret documents `stats` counts for this viewer over [from, to] (for the secret-read log)."""
    if seen is None:
        seen = await _secret_seen(conn, office_id, viewer, above_clearance=False)
    ids = [r["document_id"] for r in seen]
    if not ids:
        return []
    rows = await conn.fetch(
        f"""SELECT d.id, d.secrecy FROM {S}.documents d
            WHERE d.id = ANY($1::text[])
              AND ((d.kind = 'incoming'
                    AND (d.created_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date BETWEEN $2 AND $3)
                   OR d.issued_on BETWEEN $2 AND $3
                   OR EXISTS (SELECT 1 FROM {S}.assignments a WHERE a.document_id = d.id
                       AND (a.ended_at IS NULL
                            OR (a.assigned_at AT TIME ZONE 'Asia/Ho_Chi_Minh')::date BETWEEN $2 AND $3
                            OR a.completed_on BETWEEN $2 AND $3)))
            ORDER BY d.id""",
        ids,
        date_from,
        date_to,
    )
    return [(r["id"], r["secrecy"]) for r in rows]


async def stats_and_secrets(
    conn: Conn, office_id: str, date_from: date, date_to: date, viewer: Viewer
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """`stats` and `counted_secret` together, reading the viewer's secret documents once."""
    seen = await _secret_seen(conn, office_id, viewer, above_clearance=False)
    result = await stats(conn, office_id, date_from, date_to, viewer=viewer, seen=seen)
    return result, await counted_secret(conn, office_id, date_from, date_to, viewer, seen)


async def stats_in_one_read(
    conn: Conn, office_id: str, date_from: date, date_to: date, viewer: Viewer, *, today: date | None = None
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """`stats_and_secrets` (what GET …/stats and the incoming report answer) with the summed counters and
    the viewer's secret documents read in one statement: one round trip, more only when the viewer sees
    a secret document."""
    today = _today(today)
    rank = int(viewer.clearance_rank)
    seen_sql = _secret_seen_sql(rank, above_clearance=False, office="$1", user="$6")
    rows = await conn.fetch(
        f"""SELECT unit_id, measure, n, past, NULL AS document_id, NULL AS secrecy FROM ({_COUNTERS}) c
            UNION ALL
            SELECT NULL, NULL, NULL, NULL, s.document_id, s.secrecy FROM ({seen_sql}) s""",
        office_id,
        date_from,
        date_to,
        rank,
        min(date_to, today),
        viewer.user_id,
    )
    counters = [r for r in rows if r["measure"] is not None]
    seen = [r for r in rows if r["measure"] is None]
    result = await stats(
        conn, office_id, date_from, date_to, viewer=viewer, today=today, seen=seen, counters=counters
    )
    return result, await counted_secret(conn, office_id, date_from, date_to, viewer, seen)


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
