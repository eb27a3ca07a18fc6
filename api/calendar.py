"""`/v1/calendar/{year}`: the working-day calendar as published, and publishing a year (admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse

from api.auth import Forbidden, Principal
from api.deps import CurrentUser, OfficesDep, Pool
from api.documents import refuse_nul
from api.errors import Problem
from deploy.config.offices import Offices
from producers.acts import calendar_history, load_calendar, publish_calendar
from schemas.acts import PublishCalendar
from schemas.parsing import parse_body

router = APIRouter(prefix="/v1/calendar", tags=["calendar"])
Year = Annotated[int, Path(ge=2000, le=2099, description="a calendar year")]


def _require_top_admin(principal: Principal, offices: Offices) -> None:
    top = [o.id for o in offices if o.parent_id is None]
    if "admin" not in principal.roles or principal.office not in top:
        raise Forbidden("publishing a calendar needs an admin of the top office")


async def _year(pool: Pool, year: int) -> dict[str, Any]:
    async with pool.acquire() as conn:
        calendar = await load_calendar(conn)
        history = await calendar_history(conn, year)
    try:
        shown = calendar.year(year).to_dict()
    except ValueError as exc:
        raise Problem(422, "validation", "Invalid request", f"year: {exc}") from exc
    return {**shown, "history": history}


@router.get("/{year}", response_model=None)
async def get_calendar(year: Year, principal: CurrentUser, pool: Pool) -> dict[str, Any]:
    """The year's days off and make-up working days with their basis, and its publications."""
    return await _year(pool, year)


@router.put("/{year}", response_model=None)
async def put_calendar(
    year: Year,
    principal: CurrentUser,
    pool: Pool,
    offices: OfficesDep,
    body: Annotated[dict[str, Any], Body()],
) -> JSONResponse:
    """Publish the year's announced days off and make-up working days; deadlines use it from now on."""
    _require_top_admin(principal, offices)
    refuse_nul(body)
    publication = parse_body(PublishCalendar, body)
    async with pool.acquire() as conn:
        try:
            position = await publish_calendar(conn, year, publication, principal.actor, datetime.now(UTC))
        except ValueError as exc:
            raise Problem(422, "validation", "Invalid request", str(exc)) from exc
    return JSONResponse(await _year(pool, year), headers={"X-Vanthu-Position": str(position)})
