"""`/v1/offices/{office}/…`: an office's documents, deadlines, statistics, registers and reports."""

from __future__ import annotations

import csv
import inspect
import io
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import Field
from starlette.types import ASGIApp, Receive, Scope, Send

from api import deps
from api.auth import Principal
from api.deps import CurrentUser, OfficesDep, Pool, Reader, Reads
from api.errors import Problem
from api.params import QueryModel, documented
from api.reads import record_secret_reads, wait_for_position
from deploy.config.offices import Offices
from processors import queries
from processors.cursors import BadCursor
from processors.queries import Viewer
from schemas.deadlines import local_date
from schemas.enums import STATE_NAMES, type_name

router = APIRouter(prefix="/v1/offices/{office}", tags=["offices"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or a file when Accept asks for text/csv or XLSX",
        "content": {"text/csv": {}, XLSX: {}},
    }
}
OFFICE_MAX = 100  # the longest office id a route takes
OfficeId = Annotated[str, Path(max_length=OFFICE_MAX, description="office id, e.g. tu-hcm")]
AFTER = "wait until the read models include this position"


def viewer_for(principal: Principal, office: str, offices: Offices) -> Viewer:
    if office not in offices:
        raise Problem(404, "not-found", "Not found", f"office {office} is not configured")
    if principal.office != office:
        raise Problem(
            403, "forbidden", "Forbidden", f"the token is for office {principal.office}, not {office}"
        )
    return Viewer(office_id=office, user_id=principal.user, clearance=principal.clearance)


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_answer(content: Any) -> Response:
    """A JSON answer encoded once, straight to bytes, in the form FastAPI's own encoder gives (dates in
    ISO 8601): no jsonable_encoder pass and no response-model validation pass before it."""
    return Response(orjson.dumps(content, default=_plain), media_type="application/json")


class DocumentsQuery(QueryModel):
    kind: Literal["incoming", "outgoing", "task"] | None = None
    state: str | None = Field(None, max_length=40)
    overdue: bool | None = None
    due_within: int | None = Field(None, ge=0, le=365, description="working days")
    q: str | None = Field(None, max_length=200, description="full text; accents optional")
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=500)
    after: int | None = Field(None, ge=0, le=2**63 - 1, description=AFTER)


@router.get("/documents", response_model=None, openapi_extra=documented(DocumentsQuery))
async def office_documents(office: OfficeId, reads: Reads) -> Response:
    """The office's documents (its own and those addressed to it), newest first, with cursor paging."""
    p = DocumentsQuery.parse(reads.request)
    principal, pool = reads.principal, reads.pool
    viewer = viewer_for(principal, office, reads.offices)
    if p.after is not None:
        await wait_for_position(pool, p.after, reads.settings.read_wait_ms)
    # a search runs on connections that plan it for its own words (api/deps.py CUSTOM_PLANS), a plain
    # list on those that plan each statement once (GENERIC_PLANS)
    if p.q and p.q.strip():
        lists = reads.search_pool
    elif p.overdue is None and p.due_within is None:
        lists = reads.read_pool
    else:
        lists = pool
    async with lists.acquire() as conn:
        try:
            page = await queries.list_documents(
                conn,
                office,
                viewer,
                kind=p.kind,
                state=p.state,
                overdue=p.overdue,
                due_within=p.due_within,
                q=p.q,
                limit=p.limit,
                cursor=p.cursor,
            )
        except BadCursor as exc:
            raise Problem(422, "validation", "Invalid request", str(exc)) from exc
    await record_secret_reads(pool, principal, ((d["id"], d["secrecy"]) for d in page.items), reads.request)
    return json_answer({"items": page.items, "next_cursor": page.next_cursor})


class DeadlinesQuery(QueryModel):
    due_within: int = Field(5, ge=0, le=365, description="working days")
    status: queries.DeadlineFilter | None = Field(None, description="one status only")
    unit: str | None = Field(None, max_length=100, description="one lead unit only")
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the previous page")
    after: int | None = Field(None, ge=0, le=2**63 - 1, description=AFTER)


@router.get("/deadlines", response_model=None, openapi_extra=documented(DeadlinesQuery))
async def office_deadlines(office: OfficeId, reads: Reads) -> Response:
    """Open assignments overdue or due within N working days, most urgent first, with cursor paging."""
    p = DeadlinesQuery.parse(reads.request)
    principal, pool, offices, settings = reads.principal, reads.pool, reads.offices, reads.settings
    viewer = viewer_for(principal, office, offices)
    if p.after is not None:
        await wait_for_position(pool, p.after, settings.read_wait_ms)
    async with reads.read_pool.acquire() as conn:
        try:
            page = await queries.deadlines(
                conn,
                office,
                viewer,
                due_within=p.due_within,
                status=p.status,
                unit=p.unit,
                limit=p.limit,
                cursor=p.cursor,
                due_soon_days=offices.due_soon_days(office, settings.due_soon_days),
            )
        except BadCursor as exc:
            raise Problem(422, "validation", "Invalid request", str(exc)) from exc
    await record_secret_reads(
        pool, principal, ((d["document_id"], d["secrecy"]) for d in page.items), reads.request
    )
    return json_answer({"items": page.items, "next_cursor": page.next_cursor})


def _period(date_from: date | None, date_to: date | None) -> tuple[date, date]:
    today = local_date(datetime.now(UTC))
    start, end = date_from or date(today.year, 1, 1), date_to or today
    if start > end:
        raise Problem(422, "validation", "Invalid request", f"from ({start}) is after to ({end})")
    return start, end


class StatsQuery(QueryModel):
    date_from: date | None = Field(None, alias="from")
    date_to: date | None = Field(None, alias="to")


@router.get("/stats", response_model=None, openapi_extra=documented(StatsQuery))
async def office_stats(office: OfficeId, reads: Reads) -> Response:
    """Counts for the office and per lead unit over a period (default: this year to today)."""
    p = StatsQuery.parse(reads.request)
    principal, pool = reads.principal, reads.pool
    viewer = viewer_for(principal, office, reads.offices)
    start, end = _period(p.date_from, p.date_to)
    async with reads.read_pool.acquire() as conn:
        result, counted = await queries.stats_in_one_read(conn, office, start, end, viewer)
    await record_secret_reads(pool, principal, counted, reads.request)
    return json_answer({"office_id": office, "from": start.isoformat(), "to": end.isoformat(), **result})


class LeanReads:
    """The office's documents (inbox, search), deadlines and stats served without FastAPI's router walk,
    dependency solving and per-route wrappers: a plain GET of one of them is given its one dependency
    (`deps.reader`: the token from the verifier's cache, the pools) and its route's own function here,
    which parses its query with its `QueryModel` and answers encoded once. Anything else, and any request
    not plainly one of them (another method, a root path, an office id longer than the route accepts),
    goes on to the app, FastAPI's own handler of the same route, so every answer (errors and OpenAPI
    included) is what FastAPI gives; an exception is answered by the app's own handler of it, as the
    app's ExceptionMiddleware would (the API's CPU per request of tests/bench queries' mix through
    uvicorn: 0.98 ms with FastAPI's handlers, 0.71 ms this way).

    Plain ASGI, added inside RequestEdge (request id, URL and body checks, metrics: all as
    before) and outside the app's ExceptionMiddleware."""

    PREFIX = "/v1/offices/"

    def __init__(self, app: ASGIApp, handlers: dict[Any, Any], routes: dict[str, APIRoute]) -> None:
        self.app = app
        # the app's exception handlers (one dict, filled as they are registered); Exception is the
        # server error handler's, as in FastAPI's stack
        self.handlers = handlers
        self.routes = routes  # tail of the path -> the APIRoute serving it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(self.PREFIX) and scope["method"] == "GET" and not scope.get("root_path"):
            office, _, tail = path[len(self.PREFIX) :].partition("/")
            route = self.routes.get(tail)
            if route is not None and office and len(office) <= OFFICE_MAX:
                await self._serve(route, office, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(self, route: APIRoute, office: str, scope: Scope, receive: Receive, send: Send) -> None:
        # what the router sets for the route it matched (Observe labels by scope["route"].path)
        scope["route"], scope["endpoint"] = route, route.endpoint
        scope["path_params"] = {**scope.get("path_params", {}), "office": office}
        request = Request(scope, receive, send)
        authorization = None
        for name, value in scope["headers"]:  # the first, as FastAPI's Header() takes it
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        try:
            reads: Reader = await deps.reader(request, authorization)
            response: Response = await route.endpoint(office, reads)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = handler(request, exc)
            if inspect.isawaitable(response):
                response = await response
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Any:
        for cls in type(exc).__mro__:
            if cls is Exception:
                return None
            handler = self.handlers.get(cls)
            if handler is not None:
                return handler
        return None


def lean_routes() -> dict[str, APIRoute]:
    """The routes LeanReads serves, by the last part of their path."""
    served = (office_documents, office_deadlines, office_stats)
    return {
        r.path.rpartition("/")[2]: r
        for r in router.routes
        if isinstance(r, APIRoute) and r.endpoint in served
    }


# The columns of NĐ 30 Phụ lục IV, as printed: names, not ids or codes; states in Vietnamese; "ký nhận"
# left blank for a signature on the printed register.
INCOMING_COLUMNS = [
    ("received_on", "Ngày đến"),
    ("number", "Số đến"),
    ("issuing_body", "Tác giả"),
    ("number_code", "Số, ký hiệu"),
    ("document_date", "Ngày tháng văn bản"),
    ("document_type_name", "Tên loại"),
    ("summary", "Trích yếu nội dung"),
    ("recipient_name", "Đơn vị hoặc người nhận"),
    ("handed_over_on", "Ngày chuyển"),
    ("signature", "Ký nhận"),
    ("due_date", "Thời hạn giải quyết"),
    ("progress_name", "Tiến độ giải quyết"),
    ("reply_number_code", "Số, ký hiệu văn bản trả lời"),
    ("note_printed", "Ghi chú"),
]
OUTGOING_COLUMNS = [
    ("number", "Số"),
    ("number_code", "Số, ký hiệu"),
    ("issued_on", "Ngày tháng văn bản"),
    ("document_type_name", "Tên loại"),
    ("summary", "Trích yếu nội dung"),
    ("signed_by", "Người ký"),
    ("recipient_names", "Nơi nhận văn bản"),
    ("archive_holder_name", "Đơn vị, người nhận bản lưu"),
    ("copies", "Số lượng bản"),
    ("handed_over_on", "Ngày chuyển"),
    ("signature", "Ký nhận"),
    ("note", "Ghi chú"),
]


# A cell a spreadsheet would run as a formula starts with one of these (OWASP, CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # what XLSX cannot hold, and no one typed


def _printed(row: dict[str, Any], office: str, offices: Offices) -> dict[str, Any]:
    """A register row with what the printed register shows beside the stored values."""
    units = {u.id: u.name for u in offices[office].units}

    def office_name(office_id: str | None) -> str | None:
        known = offices.get(office_id) if office_id else None
        return known.name if known is not None else office_id

    out = {**row, "document_type_name": type_name(row.get("document_type")), "signature": ""}
    if "progress" in row:
        out["progress_name"] = STATE_NAMES.get(row["progress"] or "", row["progress"])
        out["recipient_name"] = units.get(row.get("recipient") or "", row.get("recipient"))
        # bàn giao: where a document a closed office handed over came from, or went to
        notes = [f"Nhận bàn giao từ {office_name(row['handed_from'])}"] if row.get("handed_from") else []
        notes += [f"Đã bàn giao cho {office_name(row['handed_to'])}"] if row.get("handed_to") else []
        out["note_printed"] = "; ".join([*notes, row["note"]] if row.get("note") else notes) or None
    if "recipients" in row:
        out["recipient_names"] = [office_name(o) for o in row["recipients"] or []]
        out["archive_holder_name"] = office_name(row.get("archive_holder"))
    return out


def _cell(value: Any) -> Any:
    """A value as an export cell: numbers as numbers, everything else as text that is never a formula
    (a leading ' before =, +, -, @) and holds no control character (each replaced by U+FFFD)."""
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, datetime | date):
        text = value.isoformat()
    else:
        text = str(value)
    text = _CONTROL.sub("\ufffd", text)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _table_file(
    title: str, columns: list[tuple[str, str]], rows: list[dict[str, Any]], accept: str, filename: str
) -> Response | None:
    """The rows as CSV or XLSX when the client asks for one (None: answer JSON)."""
    if "text/csv" in accept:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow([label for _, label in columns])
        for r in rows:
            writer.writerow([_cell(r.get(key)) for key, _ in columns])
        return Response(
            "\ufeff" + buf.getvalue(),  # a BOM so spreadsheet programs read the Vietnamese as UTF-8
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    if XLSX in accept:
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = title[:31]
        ws.append([label for _, label in columns])
        for r in rows:
            ws.append([_cell(r.get(key)) for key, _ in columns])
        for line in ws.iter_rows():
            for c in line:
                if isinstance(c.value, str):
                    c.data_type = "s"  # text, even when it looks like a formula to openpyxl
        out = io.BytesIO()
        wb.save(out)
        return Response(
            out.getvalue(),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{filename}.xlsx"'},
        )
    return None


@router.get("/registers/{which}", response_model=None, responses=FILES)
async def office_register(
    office: OfficeId,
    which: Literal["incoming", "outgoing"],
    request: Request,
    principal: CurrentUser,
    pool: Pool,
    offices: OfficesDep,
    year: Annotated[int | None, Query(ge=1990, le=2200)] = None,
    series: Annotated[str | None, Query(max_length=40, description="one register or series only")] = None,
    accept: Annotated[str, Header()] = "application/json",
) -> Response | dict[str, Any]:
    """Sổ đăng ký văn bản đến / đi of a year in number order; Accept text/csv or XLSX for a file."""
    viewer = viewer_for(principal, office, offices)
    year = year or local_date(datetime.now(UTC)).year
    async with pool.acquire() as conn:
        rows = [
            _printed(r, office, offices)
            for r in await queries.register(conn, office, which, year, viewer, series=series)
        ]
    await record_secret_reads(
        pool, principal, ((r["document_id"], r["secrecy"]) for r in rows), request.url.path
    )
    columns = INCOMING_COLUMNS if which == "incoming" else OUTGOING_COLUMNS
    title = "Sổ đăng ký văn bản đến" if which == "incoming" else "Sổ đăng ký văn bản đi"
    file = _table_file(title, columns, rows, accept, f"so-{which}-{office}-{year}")
    if file is not None:
        return file
    return {"office_id": office, "year": year, "items": jsonable_encoder(rows)}


REPORT_COLUMNS = [
    ("unit_name", "Đơn vị"),
    ("received", "Tổng số văn bản đến"),
    ("completed_on_time", "Đã giải quyết đúng hạn"),
    ("completed_late", "Đã giải quyết quá hạn"),
    ("open_within_deadline", "Chưa giải quyết, trong hạn"),
    ("open_past_deadline", "Chưa giải quyết, quá hạn"),
]


@router.get("/reports/incoming", response_model=None, responses=FILES)
async def incoming_report(
    office: OfficeId,
    request: Request,
    principal: CurrentUser,
    pool: Pool,
    offices: OfficesDep,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    accept: Annotated[str, Header()] = "application/json",
) -> Response | dict[str, Any]:
    """Báo cáo tình hình giải quyết văn bản đến for a period, per unit; Accept XLSX for a file."""
    viewer = viewer_for(principal, office, offices)
    start, end = _period(date_from, date_to)
    async with pool.acquire() as conn:
        result, counted = await queries.stats_in_one_read(conn, office, start, end, viewer)
    await record_secret_reads(pool, principal, counted, request.url.path)
    names = {u.id: u.name for u in offices[office].units}
    units = [
        {**u, "unit_name": names.get(u["unit_id"] or "", u["unit_id"] or "(cá nhân)")}
        for u in result["units"]
    ]
    total = {**result["total"], "unit_name": "Tổng cộng"}
    file = _table_file(
        "Báo cáo giải quyết văn bản đến",
        REPORT_COLUMNS,
        [*units, total],
        accept,
        f"bao-cao-{office}-{start}-{end}",
    )
    if file is not None:
        return file
    return {
        "title": "Báo cáo tình hình giải quyết văn bản đến",
        "office_id": office,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "units": units,
        "total": result["total"],
    }


OUTGOING_REPORT_COLUMNS = [
    ("document_type_name", "Tên loại"),
    ("issued", "Số văn bản đã phát hành"),
    ("deliveries", "Số lượt gửi"),
    ("not_received", "Nơi nhận chưa nhận"),
    ("received", "Đã nhận, đã đăng ký"),
    ("in_handling", "Đang giải quyết"),
    ("handled", "Đã giải quyết"),
    ("returned_or_recalled", "Trả lại hoặc thu hồi"),
]
_COUNTS = [key for key, _ in OUTGOING_REPORT_COLUMNS[1:]]


@router.get("/reports/outgoing", response_model=None, responses=FILES)
async def outgoing_report(
    office: OfficeId,
    request: Request,
    principal: CurrentUser,
    pool: Pool,
    offices: OfficesDep,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
    accept: Annotated[str, Header()] = "application/json",
) -> Response | dict[str, Any]:
    """Báo cáo tình hình văn bản đi for a period, per document type, with how far recipients have got."""
    viewer = viewer_for(principal, office, offices)
    start, end = _period(date_from, date_to)
    async with pool.acquire() as conn:
        rows = await queries.outgoing_report(conn, office, start, end, viewer)
        counted = await queries.counted_secret(conn, office, start, end, viewer)
    await record_secret_reads(pool, principal, counted, request.url.path)
    types = [{**r, "document_type_name": type_name(r["document_type"])} for r in rows]
    total = {key: sum(int(r[key]) for r in rows) for key in _COUNTS}
    file = _table_file(
        "Báo cáo văn bản đi",
        OUTGOING_REPORT_COLUMNS,
        [*types, {**total, "document_type_name": "Tổng cộng"}],
        accept,
        f"bao-cao-van-ban-di-{office}-{start}-{end}",
    )
    if file is not None:
        return file
    return {
        "title": "Báo cáo tình hình văn bản đi",
        "office_id": office,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "types": types,
        "total": total,
    }
