"""`GET /v1/offices`: the configured offices and their units (public)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import OfficesDep

router = APIRouter(prefix="/v1/offices", tags=["offices"])


@router.get("")
async def list_offices(offices: OfficesDep) -> dict[str, Any]:
    """Every configured office with its parent and units (no token needed)."""
    return {"items": offices.to_list()}
