"""`/v1/documents`: create, act (If-Match, Idempotency-Key), read, history and `as_of`."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime
from itertools import takewhile
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from api import deps
from api.auth import Forbidden, Principal
from api.deps import CurrentUser, OfficesDep, Pool, SettingsDep, Writes
from api.document_body import document_body
from api.errors import Problem, not_found
from api.files import with_stored_files
from api.names import check_names
from api.permissions import CREATE_ROLES, may_see, may_see_state, require_action, viewer_of
from api.reads import record_secret_read, wait_for_position
from deploy.config.db import Conn
from deploy.config.offices import Offices
from deploy.config.settings import Settings
from processors import queries
from producers import store
from producers.handler import HandleRequest, HandleResult, WritePath, handle
from schemas.acts import is_act_stream
from schemas.commands import Command
from schemas.envelope import EnvelopeError
from schemas.evolve import StreamError, evolve, fold
from schemas.parsing import COMMANDS_BY_ACTION, parse_action, parse_create
from schemas.state import DocumentState, initial_state

router = APIRouter(prefix="/v1/documents", tags=["documents"])
_ETAG = re.compile(r'^\s*(?:W/)?"(\d{1,9})"\s*$')
_MAX_KEY = 200


def _answer(
    result: HandleResult, offices: Offices, settings: Settings, status: int, named: list[str] | None = None
) -> Response:
    headers = {"ETag": f'"{result.state.version}"', "X-Vanthu-Position": str(result.position)}
    if status == 201:
        headers["Location"] = f"/v1/documents/{result.state.id}"
    body = document_body(result.state, offices, settings)
    if result.warnings:
        body["warnings"] = list(result.warnings)
        if named:  # only the earlier documents the caller may see are named
            body["warnings"][-1] += f" (document {', '.join(named)})"
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def _idempotency_key(principal_user: str, key: str | None) -> str | None:
    if key is None:
        return None
    if not key.strip() or len(key) > _MAX_KEY:
        raise Problem(400, "bad-idempotency-key", "Bad Idempotency-Key", f"use 1 to {_MAX_KEY} characters")
    return f"{principal_user}\x1f{key}"  # keys are per user: two users never collide


def refuse_nul(value: Any, field: str = "") -> None:
    """PostgreSQL text cannot hold NUL: in a stored event, one would stop the read models at it."""
    if isinstance(value, str) and "\x00" in value:
        where = field or "body"
        raise Problem(
            422,
            "validation",
            "Invalid request",
            f"{where}: contains a NUL character",
            errors=[{"field": where, "reason": "contains a NUL character"}],
        )
    if isinstance(value, dict):
        for k, v in value.items():
            refuse_nul(k, field or "body")
            refuse_nul(v, f"{field}.{k}" if field else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            refuse_nul(v, f"{field}.{i}" if field else str(i))


def _as_secret_as_ever(events: list[store.Appended]) -> dict[str, Any]:
    """The document as it is now, with the highest secrecy it ever had: how `as_of` and the history are
    judged (a draft since raised to Tối mật was Tối mật all along; a declassified past keeps its level)."""
    state, levels = None, []
    for event in events:
        state = evolve(state or initial_state(event.envelope.stream_id), event.envelope)
        levels.append(None if state.secrecy is None else state.secrecy.value)
    assert state is not None
    return {**state.to_dict(), "secrecy": queries.highest_secrecy(levels)}


@router.post("", status_code=201, response_model=None)
async def create_document(
    principal: CurrentUser,
    pool: Pool,
    writes: Writes,
    offices: OfficesDep,
    settings: SettingsDep,
    body: Annotated[dict[str, Any], Body()],
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Create an incoming document, an outgoing draft or a task in the caller's office."""
    refuse_nul(body)
    # attachments name uploaded files by hash; the stored file completes them (422 for an unknown one)
    body = await with_stored_files(pool, body, principal.office, str(body.get("kind")))
    command = parse_create(body)
    office = body.get("office_id")
    if office != principal.office:
        raise Problem(
            403, "forbidden", "Forbidden", f"the token is for office {principal.office}, not {office}"
        )
    kind = str(body.get("kind"))
    principal.require(*CREATE_ROLES[kind])
    if office not in offices:
        raise Problem(422, "unknown-office", "Unknown office", f"office {office!r} is not configured")
    key = _idempotency_key(principal.user, idempotency_key)
    # the same key must name the same new document, so its id is derived from the key
    doc_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"vanthu:{key}")) if key else str(uuid.uuid4())
    create = HandleRequest(
        command, document_id=doc_id, expected_version=0, actor=principal.actor, idempotency_key=key
    )
    result = await handle(writes, create, offices)
    named: list[str] = []
    if result.duplicates:
        async with pool.acquire() as conn:
            named = sorted(await queries.visible_ids(conn, result.duplicates, viewer_of(principal)))
    return _answer(result, offices, settings, 201, named)


async def act(
    document_id: str,
    request: Request,
    principal: CurrentUser,
    pool: Pool,
    offices: OfficesDep,
    settings: SettingsDep,
    writes: Writes,
    body: Annotated[dict[str, Any], Body()],
    if_match: Annotated[str | None, Header()] = None,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Response:
    """Take an action on a document; If-Match must carry the version the client saw."""
    del pool  # declared for callers that pass it (api/ui/pages.py); the write path has its own
    return await _act(
        document_id, request, principal, offices, settings, writes, body, if_match, idempotency_key
    )


class _ActionRoute(APIRoute):
    """`act`'s route: a request whose body is a JSON object (`Content-Type: application/json`) is read,
    parsed (orjson) and given its dependencies here, without FastAPI's body handling and dependency
    solving (py-spy: about a sixth of the API's CPU per action under the command benchmark). Anything
    else goes to FastAPI's own handler of `act`, so every malformed request is answered as before; the
    OpenAPI document describes `act` as ever."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        fastapi_handler = super().get_route_handler()

        async def handler(request: Request) -> Response:
            headers = request.headers
            if headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
                return await fastapi_handler(request)
            try:
                raw = await request.body()
            except HTTPException:
                raise  # the body limit (api.app.RequestEdge)
            except Exception:
                return await fastapi_handler(request)  # a broken body: FastAPI's answer
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = None  # orjson refuses what json may accept (NaN, huge integers): FastAPI decides
            if type(body) is not dict:
                return await fastapi_handler(request)
            # the dependencies `act` declares, in the order FastAPI solves them
            principal = await deps.current_user(request, headers.get("authorization"))
            return await _act(
                request.path_params["document_id"],
                request,
                principal,
                await deps.offices(request),
                await deps.settings(request),
                await deps.write_path(request),
                body,
                headers.get("if-match"),
                headers.get("idempotency-key"),
            )

        return handler


router.add_api_route(
    "/{document_id}/actions",
    act,
    methods=["POST"],
    response_model=None,
    route_class_override=_ActionRoute,
)


async def _act(
    document_id: str,
    request: Request,
    principal: Principal,
    offices: Offices,
    settings: Settings,
    writes: WritePath,
    body: dict[str, Any],
    if_match: str | None,
    idempotency_key: str | None,
) -> Response:
    m = None if if_match is None else _ETAG.match(if_match)
    action = body.get("action")
    request.state.action = action if action in COMMANDS_BY_ACTION else "unknown"  # bounded label values

    async def prepare(current: DocumentState, conn: Conn) -> Command:
        """The caller's checks, on the one load of the action, in the order errors are answered."""
        if current.version == 0 or not may_see_state(principal, current):
            raise not_found(f"document {document_id}")
        if if_match is None:
            raise Problem(
                428,
                "precondition-required",
                "If-Match required",
                'send If-Match: "<version>" with the version you saw',
            )
        if m is None:
            raise Problem(
                400, "bad-if-match", "Bad If-Match", f'If-Match must look like "3", got {if_match!r}'
            )
        assert current.kind is not None
        if action in COMMANDS_BY_ACTION:  # who may act is answered before what the body lacks
            require_action(principal, str(action), current.office_id)
        if action == "declassify" and not principal.cleared_for(
            None if current.secrecy is None else current.secrecy.value
        ):
            raise Forbidden(f"declassify: only a leader cleared for {current.secrecy} lowers it")
        refuse_nul(body)
        checked = body
        if action == "revise":
            checked = await with_stored_files(conn, body, principal.office, current.kind)
        command = parse_action(current.kind, checked)
        check_names(command, current.office_id, offices)
        return command

    action_request = HandleRequest(
        prepare,
        document_id=document_id,
        expected_version=None if m is None else int(m.group(1)),
        actor=principal.actor,
        idempotency_key=_idempotency_key(principal.user, idempotency_key),
    )
    result = await handle(writes, action_request, offices)
    return _answer(result, offices, settings, 200)


@router.get("/{document_id}", response_model=None)
async def get_document(
    document_id: str,
    request: Request,
    principal: CurrentUser,
    pool: Pool,
    offices: OfficesDep,
    settings: SettingsDep,
    response: Response,
    as_of: Annotated[
        datetime | None, Query(description="an ISO 8601 instant: the document as it was then")
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="wait until the read models include this position")
    ] = None,
) -> dict[str, Any]:
    """The document, from the read models (or rebuilt from its events with `as_of`)."""
    if as_of is not None:
        if as_of.tzinfo is None:
            raise Problem(
                422,
                "validation",
                "Invalid request",
                "as_of: give a time zone, e.g. 2026-03-01T09:00:00+07:00",
            )
        try:
            async with pool.acquire() as conn:
                events = await store.history(conn, document_id)
            # the version prefix up to as_of: an event stamped out of time order ends it, never leaves a gap
            then = [e.envelope for e in takewhile(lambda e: e.envelope.occurred_at <= as_of, events)]
            judged = _as_secret_as_ever(events) if then else {}
            state = fold(then) if then else None
        except (StreamError, EnvelopeError, ValueError) as exc:
            raise Problem(
                409,
                "unfoldable-history",
                "History cannot be folded",
                f"document {document_id}: its stored events up to {as_of.isoformat()} cannot be folded "
                f"by this version ({exc}); `vanthu audit verify` checks the store",
            ) from exc
        if state is None or not may_see(principal, judged):
            raise not_found(f"document {document_id} at {as_of.isoformat()}")
        doc = document_body(state, offices, settings)
    else:
        if after is not None:
            await wait_for_position(pool, after, settings.read_wait_ms)
        async with pool.acquire() as conn:
            found = await queries.get_document(
                conn,
                document_id,
                viewer_of(principal),
                due_soon_days=offices.due_soon_days(principal.office, settings.due_soon_days),
            )
        if found is None:
            raise not_found(f"document {document_id}")
        doc = judged = jsonable_encoder(found)
    response.headers["ETag"] = f'"{doc["version"]}"'
    await record_secret_read(pool, principal, judged, request.url.path)
    return doc


@router.get("/{document_id}/events", response_model=None)
async def history(document_id: str, request: Request, principal: CurrentUser, pool: Pool) -> dict[str, Any]:
    """Every event of the document: type, version, actor, office, time, data and its hash."""
    async with pool.acquire() as conn:
        events = [] if is_act_stream(document_id) else await store.history(conn, document_id)
    judged = _as_secret_as_ever(events) if events else {}
    if not events or not may_see(principal, judged):
        raise not_found(f"document {document_id}")
    await record_secret_read(pool, principal, judged, request.url.path)
    items = []
    for event in events:
        env = event.envelope
        items.append(
            {
                "position": event.position,
                "version": env.version,
                "type": env.type,
                "schema_version": env.schema_version,
                "occurred_at": env.occurred_at.isoformat(),
                "actor": env.actor.to_dict(),
                "office": env.actor.office,
                "data": dict(env.data),
                "hash": event.hash.hex(),
            }
        )
    return {"document_id": document_id, "items": items}
