"""Dependencies declared once as Annotated aliases: the caller, the pools, the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import asyncpg
from fastapi import Depends, Header, Request

from api.auth import Principal
from deploy.config.offices import Offices
from deploy.config.settings import Settings


def _principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    principal: Principal = request.app.state.verifier.verify(authorization)
    request.state.principal = principal
    return principal


if TYPE_CHECKING:
    PgPool = asyncpg.Pool[Any]
else:
    PgPool = asyncpg.Pool  # asyncpg's Pool is generic only in its stubs


def _pool(request: Request) -> PgPool:
    pool: PgPool = request.app.state.pool
    return pool


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _offices(request: Request) -> Offices:
    offices: Offices = request.app.state.offices
    return offices


CurrentUser = Annotated[Principal, Depends(_principal)]
Pool = Annotated[PgPool, Depends(_pool)]
SettingsDep = Annotated[Settings, Depends(_settings)]
OfficesDep = Annotated[Offices, Depends(_offices)]
