"""`/v1/offices`: the offices and their units (public) with their history (opened, closed, successors),
each office's committee term, and closing an office."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from api.auth import Forbidden
from api.deps import CurrentUser, OfficesDep, Pool
from api.documents import refuse_nul
from api.errors import Problem, not_found
from producers.acts import set_term, terms
from producers.closing import close_office
from producers.closures import closures
from producers.errors import ClosingRefused
from schemas.acts import CloseOffice, SetTerm
from schemas.parsing import parse_body

router = APIRouter(prefix="/v1/offices", tags=["offices"])


@router.get("")
async def list_offices(
    offices: OfficesDep, pool: Pool, include_closed: Annotated[bool, Query()] = False
) -> dict[str, Any]:
    """Every open office with its parent, units and opening day; `include_closed` adds the closed ones."""
    async with pool.acquire() as conn:
        closed = await closures(conn)
    items = []
    for office in offices:
        closure = closed.get(office.id)
        if closure is None:
            items.append(office.to_dict())
        elif include_closed:
            items.append(office.to_dict() | closure.to_dict())
    return {"items": items}


@router.post("/{office}/close", response_model=None)
async def post_close(
    office: str,
    principal: CurrentUser,
    pool: Pool,
    offices: OfficesDep,
    body: Annotated[dict[str, Any], Body()],
) -> JSONResponse:
    """Close an office (admin of the top office); its open documents go to the first successor."""
    if office not in offices:
        raise not_found(f"office {office}")
    top = offices.get(principal.office)
    if "admin" not in principal.roles or top is None or top.parent_id is not None:
        raise Forbidden(f"closing office {office} needs an admin of the top office")
    refuse_nul(body)
    closing = parse_body(CloseOffice, body)
    async with pool.acquire() as conn:
        try:
            closed = await close_office(conn, office, closing, principal.actor, datetime.now(UTC), offices)
        except ClosingRefused as exc:
            slug = "office-already-closed" if exc.status == 409 else "office-not-closable"
            raise Problem(exc.status, slug, "Office not closed", str(exc)) from None
    answer = {
        "office_id": office,
        "closed_on": closing.closed_on.isoformat(),
        "successors": list(closing.successors),
        "basis": closing.basis,
        "handed_over": closed.handed_over,
    }
    return JSONResponse(answer, headers={"X-Vanthu-Position": str(closed.position)})


@router.put("/{office}/term", response_model=None)
async def put_term(
    office: str,
    principal: CurrentUser,
    pool: Pool,
    offices: OfficesDep,
    body: Annotated[dict[str, Any], Body()],
) -> JSONResponse:
    """Set the office's committee term (nhiệm kỳ): outgoing numbers of each type start at 01 in it."""
    if office not in offices:
        raise not_found(f"office {office}")
    if "admin" not in principal.roles or principal.office != office:
        raise Forbidden(f"setting the term of office {office} needs an admin of that office")
    refuse_nul(body)
    term = parse_body(SetTerm, body)
    async with pool.acquire() as conn:
        position = await set_term(conn, office, term, principal.actor, datetime.now(UTC))
        known = await terms(conn, office)
    answer = {
        "office_id": office,
        "starts_on": term.starts_on.isoformat(),
        "label": term.label,
        "terms": known,
    }
    return JSONResponse(answer, headers={"X-Vanthu-Position": str(position)})
