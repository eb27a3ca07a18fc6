"""API fixtures: the app on a fresh database, driven in-process over ASGI with httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from api.app import create_app
from api.auth import issue_token
from api.deps import open_pool
from deploy.config.settings import Settings


@pytest.fixture
def api_settings(settings: Settings, database: str) -> Settings:
    return settings.with_(pg_dsn=database)


async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process on its own pool (opened as the API opens it), driven over ASGI."""
    app = create_app(settings)
    app.state.pool = await open_pool(settings.app_dsn, min_size=1, max_size=10)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vanthu.test") as c:
            yield c
    finally:
        await app.state.pool.close()


@pytest.fixture
async def client(api_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in app_client(api_settings):
        yield c


@pytest.fixture
def token(api_settings: Settings) -> Callable[..., dict[str, str]]:
    """Authorization headers for a role in an office."""

    def make(
        office: str, *roles: str, user: str | None = None, clearance: str | None = None
    ) -> dict[str, str]:
        t = issue_token(api_settings, office=office, roles=list(roles), user=user, clearance=clearance)
        return {"Authorization": f"Bearer {t}"}

    return make
