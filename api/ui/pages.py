"""`/ui`: the web pages. Each page reads through the same query functions and access rules as the JSON
routes (and writes, downloads and the live feed call those routes' own functions), renders one template,
and lists every secret document it shows in the secret-read log."""

from __future__ import annotations

import email.policy
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from email.parser import BytesParser
from pathlib import Path
from typing import Annotated, Any, Literal, cast
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from api import documents, feed, files, office_reads
from api.auth import ROLES, Forbidden, Principal, Unauthenticated, issue_token
from api.deps import OfficesDep, PgPool, Pool, SettingsDep, Writes
from api.errors import Problem
from api.permissions import may_see, viewer_of
from api.reads import record_secret_read, record_secret_reads, wait_for_position
from api.ui import words
from api.ui.actions import FORMS, body_of, forms_for, secrecy_choices
from api.ui.session import COOKIE, SignInNeeded, UiUser, check_csrf, dev_sign_in
from deploy.config.db import Conn
from deploy.config.offices import Offices, UnknownOffice
from deploy.config.settings import Settings
from processors import boards, queries
from processors.cursors import BadCursor
from processors.queries import Viewer
from producers import store
from producers.closures import closures
from producers.errors import DocumentNotFound, IdempotencyKeyReused, VersionConflict
from schemas.acts import is_act_stream
from schemas.deadlines import OFFICE_ZONE, local_date
from schemas.decider import DomainError
from schemas.parsing import CommandInvalid

HERE = Path(__file__).parent
router = APIRouter(prefix="/ui", include_in_schema=False)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(words=words, FORMS=FORMS, tz=OFFICE_ZONE, secrecy_choices=secrecy_choices)
DEADLINE_HORIZON = 365  # working days: the deadlines page lists every open assignment due within a year
PAGE = 25
FORM_OVERHEAD = 64 * 1024  # the intake form's fields and part headers beside its files


def install(app: FastAPI) -> None:
    """The pages, their static files, and the sign-in redirect."""
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.include_router(router)

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        return RedirectResponse("/ui/signin", status_code=303)


def _today() -> date:
    return local_date(datetime.now(UTC))


async def _form(request: Request) -> tuple[dict[str, str], dict[str, list[str]]]:
    """An urlencoded form: each field's last value, and every value of repeated fields."""
    raw = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in raw.items()}, raw


def _page(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    offices: Offices = request.app.state.offices
    office = offices.get(principal.office) if principal else None
    context.update(
        principal=principal,
        office=office,
        is_top=office is not None and office.parent_id is None,
        csrf=getattr(request.state, "csrf", ""),
        feed_url="/ui/feed" if principal else "",
    )
    return templates.TemplateResponse(request, name, context, status_code=code)


def _bad_request(request: Request, message: str, status: int = 400) -> HTMLResponse:
    return _page(request, "message.html", status, title="Không thực hiện được", message=message)


# sign-in ---------------------------------------------------------------------------------------------


@router.get("/signin")
async def sign_in_page(request: Request, offices: OfficesDep, pool: Pool) -> HTMLResponse:
    async with pool.acquire() as conn:
        closed = await closures(conn)
    return _page(
        request,
        "signin.html",
        dev=dev_sign_in(request),
        offices=sorted(
            (o for o in offices if o.id not in closed), key=lambda o: (o.parent_id is not None, o.name)
        ),
        roles=ROLES,
    )


@router.post("/signin")
async def sign_in(request: Request, offices: OfficesDep, settings: SettingsDep) -> Response:
    form, _ = await _form(request)
    token = form.get("token", "").strip()
    if not token:
        if not dev_sign_in(request):
            return _bad_request(request, "Chỉ đăng nhập bằng mã truy cập của hệ thống định danh.", 403)
        office, role, clearance = form.get("office", ""), form.get("role", ""), form.get("clearance", "")
        if office not in offices or role not in ROLES or clearance not in words.CLEARANCES:
            return _bad_request(request, "Đơn vị, vai trò hoặc độ mật không hợp lệ.", 422)
        token = issue_token(
            settings, office=office, roles=[role], user=f"{role}@{office}", clearance=clearance or None
        )
    try:
        request.app.state.verifier.verify(f"Bearer {token}")
    except Unauthenticated as exc:
        return _bad_request(request, f"Mã truy cập không hợp lệ: {exc}", 401)
    answer = RedirectResponse("/ui", status_code=303)
    answer.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
        max_age=settings.jwt_max_lifetime_hours * 3600,
    )
    return answer


@router.post("/signout")
async def sign_out(request: Request, principal: UiUser) -> Response:
    form, _ = await _form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return _bad_request(request, "Biểu mẫu đã hết hạn; hãy tải lại trang.", 403)
    answer = RedirectResponse("/ui/signin", status_code=303)
    answer.delete_cookie(COOKIE, path="/ui")
    return answer


# the office overview ---------------------------------------------------------------------------------


def _unit_names(offices: Offices, office: str) -> dict[str | None, str]:
    names: dict[str | None, str] = {u.id: u.name for u in offices[office].units}
    names[None] = "(giao cho cá nhân)"
    return names


@router.get("")
async def overview(
    request: Request, principal: UiUser, pool: Pool, offices: OfficesDep, settings: SettingsDep
) -> HTMLResponse:
    office = principal.office
    if office not in offices:
        return _bad_request(request, f"Đơn vị {office} không có trong cấu hình.", 404)
    viewer = viewer_of(principal)
    today = _today()
    start = date(today.year, 1, 1)
    due_soon = offices.due_soon_days(office, settings.due_soon_days)
    async with pool.acquire() as conn:
        board = await boards.overview(
            conn, office, viewer, start=start, today=today, due_soon_days=due_soon, horizon=DEADLINE_HORIZON
        )
    stats, urgent, waiting = board.stats, board.urgent, board.waiting
    shown = [*board.counted_secret, *((d["document_id"], d["secrecy"]) for d in urgent)]
    shown += [(d["id"], d["secrecy"]) for d in waiting]
    await record_secret_reads(pool, principal, shown, request.url.path)
    names = _unit_names(offices, office)
    units = [{**u, "name": names.get(u["unit_id"], u["unit_id"])} for u in stats["units"]]
    top = max([1, *(u[k] for u in units for k in words.COUNTS)])
    return _page(
        request,
        "overview.html",
        total=stats["total"],
        units=units,
        top=top,
        start=start,
        today=today,
        urgent=urgent,
        waiting=waiting,
        waiting_total=board.waiting_total,
        unit_names=names,
        year=today.year,
    )


# deadlines -------------------------------------------------------------------------------------------


async def _deadlines(
    conn: Conn,
    office: str,
    viewer: Viewer,
    due_soon: int,
    status: str | None,
    unit: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the office's open assignments, most urgent first, filtered by status and lead unit: the
    API's paged query (keyset cursor). Raises BadCursor for a cursor the query did not write."""
    page = await queries.deadlines(
        conn,
        office,
        viewer,
        due_within=DEADLINE_HORIZON,
        status=cast(queries.DeadlineFilter, status) if status else None,
        unit=unit,
        limit=limit,
        cursor=cursor,
        due_soon_days=due_soon,
    )
    return page.items, page.next_cursor


@router.get("/deadlines")
async def deadlines_page(
    request: Request,
    principal: UiUser,
    pool: Pool,
    offices: OfficesDep,
    settings: SettingsDep,
    status: str = "",
    unit: str = "",
    cursor: str = "",
) -> HTMLResponse:
    office = principal.office
    if office not in offices:
        return _bad_request(request, f"Đơn vị {office} không có trong cấu hình.", 404)
    if status and status not in ("overdue", "due_soon", "on_time"):
        return _bad_request(request, f"Trạng thái không hợp lệ: {status}", 422)
    names = _unit_names(offices, office)
    if unit and unit not in names:
        return _bad_request(request, f"Đơn vị xử lý không hợp lệ: {unit}", 422)
    due_soon = offices.due_soon_days(office, settings.due_soon_days)
    try:
        async with pool.acquire() as conn:
            items, next_cursor = await _deadlines(
                conn,
                office,
                viewer_of(principal),
                due_soon,
                status or None,
                unit or None,
                cursor or None,
                PAGE,
            )
    except BadCursor:
        return _bad_request(request, "Con trỏ trang không hợp lệ: hãy mở lại danh sách từ trang đầu.", 422)
    await record_secret_reads(
        pool, principal, ((d["document_id"], d["secrecy"]) for d in items), "/ui/deadlines"
    )
    query = f"status={quote(status)}&unit={quote(unit)}"
    return _page(
        request,
        "deadlines.html",
        items=items,
        next_url=f"/ui/deadlines?{query}&cursor={quote(next_cursor)}" if next_cursor else None,
        status=status,
        unit=unit,
        unit_names=names,
        units=offices[office].units,
    )


# documents -------------------------------------------------------------------------------------------


async def _document_page(
    request: Request,
    principal: Principal,
    pool: PgPool,
    offices: Offices,
    settings: Settings,
    document_id: str,
    *,
    error: str | None = None,
    status: int = 200,
    after: int | None = None,
) -> HTMLResponse:
    if after is not None:
        try:
            await wait_for_position(pool, after, settings.read_wait_ms)
        except Problem:
            pass  # the page shows what the read models hold; the live feed brings the rest
    viewer = viewer_of(principal)
    async with pool.acquire() as conn:
        doc = await queries.get_document(
            conn,
            document_id,
            viewer,
            due_soon_days=offices.due_soon_days(principal.office, settings.due_soon_days),
        )
        events = [] if doc is None or is_act_stream(document_id) else await store.history(conn, document_id)
    if doc is None and error:  # a refused action on a document the read models do not hold yet
        return _bad_request(request, error, status)
    if doc is None:
        return _bad_request(request, "Văn bản không tồn tại hoặc bạn không có quyền xem.", 404)
    doc = jsonable_encoder(doc)
    await record_secret_read(pool, principal, doc, request.url.path)
    # the history as the API's /events judges it: as secret as the document ever was
    timeline = []
    if events and may_see(principal, documents._as_secret_as_ever(events)):
        for event in reversed(events):
            env = event.envelope
            timeline.append(
                {
                    "at": env.occurred_at,
                    "who": words.actor_name(env.actor.user),
                    "what": words.event_name(env.type),
                    "type": env.type,
                }
            )
    names = _unit_names(offices, principal.office)
    home = offices.get(principal.office)
    return _page(
        request,
        "document.html",
        status,
        doc=doc,
        timeline=timeline,
        history_hidden=bool(events) and not timeline,
        forms=forms_for(principal, doc),
        error=error,
        unit_names=names,
        units=home.units if home else (),
        office_names={o.id: o.name for o in offices},
        recipients=[o for o in offices if o.id != principal.office],
        idempotency_key=uuid.uuid4().hex,
    )


@router.get("/documents/new")
async def new_document_page(request: Request, principal: UiUser) -> HTMLResponse:
    if not principal.has("clerk"):
        return _bad_request(request, "Chỉ văn thư tiếp nhận văn bản đến.", 403)
    return _page(request, "new.html", today=_today(), idempotency_key=uuid.uuid4().hex, values={})


class _TooLarge(Exception):
    pass


async def _multipart(request: Request, limit: int) -> tuple[dict[str, str], list[tuple[str, str, bytes]]]:
    """A multipart/form-data form (the intake form with its files): each field's last value, and each
    chosen file as (media type the browser gave, name, bytes). The whole body is read, up to `limit`
    bytes (_TooLarge past it). Parsed with the standard library's MIME parser: no extra package."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    head = f"Content-Type: {request.headers.get('content-type', '')}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + bytes(body))
    if not message.is_multipart():
        raise ValueError("not a multipart form")
    fields: dict[str, str] = {}
    chosen: list[tuple[str, str, bytes]] = []
    for part in message.iter_parts():
        name = str(part.get_param("name", "", header="content-disposition"))
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = data.decode("utf-8", "replace")
        elif filename or data:  # an empty file input sends a part with no name and no bytes
            # the browser sends the name as raw UTF-8, which the parser kept as escaped bytes
            raw = filename.encode("utf-8", "surrogateescape")
            chosen.append((part.get_content_type(), raw.decode("utf-8", "replace"), data))
    return fields, chosen


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


@router.post("/documents/new")
async def create_incoming(
    request: Request,
    principal: UiUser,
    pool: Pool,
    writes: Writes,
    offices: OfficesDep,
    settings: SettingsDep,
) -> Response:
    """The clerk's intake: the files chosen are uploaded as `POST /v1/files` stores them, then attached
    to the incoming document the form creates (API.md's flow: upload, then attach by sha256)."""
    chosen: list[tuple[str, str, bytes]] = []
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            form, chosen = await _multipart(request, settings.files_max_bytes + FORM_OVERHEAD)
        except _TooLarge:
            return _bad_request(
                request, f"Tệp quá lớn: tổng các tệp không quá {settings.files_max_bytes} byte.", 413
            )
        except ValueError:
            return _bad_request(request, "Biểu mẫu không hợp lệ.", 400)
    else:
        form, _ = await _form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return _bad_request(request, "Biểu mẫu đã hết hạn; hãy tải lại trang.", 403)
    fields = ("issuing_body", "number_code", "document_date", "document_type", "summary")
    body: dict[str, Any] = {"kind": "incoming", "office_id": principal.office}
    body.update({k: form.get(k, "").strip() for k in fields})
    body.update(urgency=form.get("urgency", "thuong"), secrecy=form.get("secrecy", "thuong"))
    role = form.get("file_role", "scan")

    def again(exc: Exception) -> HTMLResponse:
        return _page(
            request,
            "new.html",
            _status(exc),
            today=_today(),
            idempotency_key=uuid.uuid4().hex,
            values=form,
            error=_explain(exc) + (" Hãy chọn lại tệp." if chosen else ""),
        )

    try:
        principal.require("clerk")  # as creating an incoming document needs: no file stored for nothing
        attachments = []
        for media_type, name, data in chosen:
            stored, _ = await files.store_upload(
                principal,
                pool,
                settings,
                request.app.state.files,
                _one(data),
                name=files.file_name(name),
                content_type=media_type,
            )
            attachments.append({"sha256": stored["sha256"], "name": stored["name"], "role": role})
        if attachments:
            body["attachments"] = attachments
        answer = await documents.create_document(
            principal,
            pool,
            writes,
            offices,
            settings,
            body,
            idempotency_key=form.get("idempotency_key") or None,
        )
    except (Problem, Forbidden, CommandInvalid, DomainError, IdempotencyKeyReused, UnknownOffice) as exc:
        return again(exc)
    created = json.loads(bytes(answer.body))
    position = answer.headers.get("X-Vanthu-Position", "")
    return RedirectResponse(f"/ui/documents/{quote(created['id'])}?after={position}", status_code=303)


def _status(exc: Exception) -> int:
    if isinstance(exc, Problem):
        return exc.status
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, VersionConflict):
        return 409
    if isinstance(exc, DocumentNotFound):
        return 404
    return 422


def _explain(exc: Exception) -> str:
    """A refusal as the page says it: what happened in Vietnamese, then the API's own detail."""
    if isinstance(exc, VersionConflict):
        return (
            "Văn bản vừa được người khác cập nhật (phiên bản "
            f"{exc.current_version}); trang đã tải lại, hãy xem lại rồi thực hiện lại."
        )
    if isinstance(exc, Forbidden):
        return f"Bạn không có quyền thực hiện thao tác này ({exc})."
    if isinstance(exc, CommandInvalid):
        return "Thông tin chưa hợp lệ: " + "; ".join(f"{e.field}: {e.reason}" for e in exc.errors)
    if isinstance(exc, DomainError):
        return f"Không thực hiện được ở trạng thái hiện tại ({exc})."
    if isinstance(exc, Problem):
        return f"Không thực hiện được: {exc.detail}"
    return f"Không thực hiện được: {exc}"


@router.get("/documents/{document_id}")
async def document_page(
    document_id: str,
    request: Request,
    principal: UiUser,
    pool: Pool,
    offices: OfficesDep,
    settings: SettingsDep,
    after: int | None = None,
) -> HTMLResponse:
    return await _document_page(request, principal, pool, offices, settings, document_id, after=after)


@router.post("/documents/{document_id}/actions")
async def act(
    document_id: str,
    request: Request,
    principal: UiUser,
    pool: Pool,
    offices: OfficesDep,
    settings: SettingsDep,
    writes: Writes,
) -> Response:
    form, lists = await _form(request)
    if not check_csrf(request, form.get("csrf", "")):
        return _bad_request(request, "Biểu mẫu đã hết hạn; hãy tải lại trang.", 403)
    action = form.get("action", "")
    version = form.get("version", "")
    if action not in FORMS or not version.isdigit():
        return _bad_request(request, "Thao tác không hợp lệ.", 422)
    try:
        answer = await documents.act(
            document_id,
            request,
            principal,
            pool,
            offices,
            settings,
            writes,
            body_of(action, form, lists),
            if_match=f'"{version}"',
            idempotency_key=form.get("idempotency_key") or None,
        )
    except (
        Problem,
        Forbidden,
        CommandInvalid,
        DomainError,
        VersionConflict,
        IdempotencyKeyReused,
        DocumentNotFound,
    ) as exc:
        return await _document_page(
            request, principal, pool, offices, settings, document_id, error=_explain(exc), status=_status(exc)
        )
    position = answer.headers.get("X-Vanthu-Position", "")
    return RedirectResponse(f"/ui/documents/{quote(document_id)}?after={position}", status_code=303)


@router.get("/documents/{document_id}/files/{sha256}")
async def download(
    document_id: str, sha256: str, request: Request, principal: UiUser, pool: Pool
) -> Response:
    """The file, through the API's own download (its visibility rule, Range, the secret-read log)."""
    return await files.download(
        document_id, sha256, request, principal, pool, request.app.state.files, None, None, None
    )


# the city ---------------------------------------------------------------------------------------------


@router.get("/city")
async def city(request: Request, principal: UiUser, pool: Pool, offices: OfficesDep) -> HTMLResponse:
    """For the top office: each office under it, its counts (documents it may show anyone uncleared: a
    count never includes a secret document), and how far it has got with what the top office issued."""
    home = offices.get(principal.office)
    if home is None or home.parent_id is not None:
        return _bad_request(request, "Trang toàn thành chỉ dành cho văn phòng cấp trên cùng.", 403)
    today = _today()
    start = date(today.year, 1, 1)
    viewer = viewer_of(principal)
    async with pool.acquire() as conn:
        closed = await closures(conn)  # closed offices handed their documents over: the open ones are shown
        children = sorted(
            (o for o in offices if o.parent_id == home.id and o.id not in closed), key=lambda o: o.name
        )
        # one read of the counters for every office (as an uncleared viewer of that office sees them),
        # one of the deliveries of what the top office issued
        totals = await queries.office_totals(conn, (c.id for c in children), start, today, today=today)
        progress = {r["office_id"]: r for r in await boards.delivery_progress(conn, home.id, viewer)}
        issued = await boards.latest_issued(conn, home.id, viewer, limit=10)
    rows = [
        {"office": child, "counts": totals[child.id], "progress": progress.get(child.id)}
        for child in children
    ]
    await record_secret_reads(pool, principal, ((d["id"], d["secrecy"]) for d in issued), request.url.path)
    return _page(
        request,
        "city.html",
        rows=rows,
        issued=issued,
        year=today.year,
        office_names={o.id: o.name for o in offices},
    )


# live feed and files ---------------------------------------------------------------------------------


@router.get("/feed")
async def live(request: Request, principal: UiUser, pool: Pool, offices: OfficesDep) -> Response:
    """The office's SSE feed (the API's own stream: same visibility, limits and secret-read log)."""
    return await feed.feed(
        principal.office,
        request,
        principal,
        pool,
        offices,
        last_event_id=request.headers.get("last-event-id"),
    )


@router.get("/registers/{which}.xlsx")
async def register_file(
    which: Literal["incoming", "outgoing"],
    request: Request,
    principal: UiUser,
    pool: Pool,
    offices: OfficesDep,
    year: Annotated[int | None, Query(ge=1990, le=2200)] = None,
) -> Response:
    answer = await office_reads.office_register(
        principal.office,
        which,
        request,
        principal,
        pool,
        offices,
        year=year,
        accept=office_reads.XLSX,
    )
    assert isinstance(answer, Response)
    return answer


@router.get("/reports/{which}.xlsx")
async def report_file(
    which: str, request: Request, principal: UiUser, pool: Pool, offices: OfficesDep
) -> Response:
    if which == "incoming":
        answer = await office_reads.incoming_report(
            principal.office, request, principal, pool, offices, accept=office_reads.XLSX
        )
    elif which == "outgoing":
        answer = await office_reads.outgoing_report(
            principal.office, request, principal, pool, offices, accept=office_reads.XLSX
        )
    else:
        return _bad_request(request, "Báo cáo không hợp lệ.", 404)
    assert isinstance(answer, Response)
    return answer


__all__ = ["SignInNeeded", "install", "router"]
