"""`/v1/offices`: the configured offices and their units (public), and each office's committee term."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from api.auth import Forbidden
from api.deps import CurrentUser, OfficesDep, Pool
from api.documents import refuse_nul
from api.errors import not_found
from producers.acts import set_term, terms
from schemas.acts import SetTerm
from schemas.parsing import parse_body

router = APIRouter(prefix="/v1/offices", tags=["offices"])


@router.get("")
async def list_offices(offices: OfficesDep) -> dict[str, Any]:
    """Every configured office with its parent and units (no token needed)."""
    return {"items": offices.to_list()}


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
