"""The whole system for end-to-end tests: relay, processor and API as real processes on a fresh
database and topic, driven over HTTP with httpx as a client would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api.auth import issue_token
from deploy.config.settings import Settings
from tests.toolkit.processes import Services, free_port


@dataclass
class System:
    settings: Settings
    base_url: str
    services: Services

    def token(
        self, office: str, *roles: str, user: str | None = None, clearance: str | None = None
    ) -> dict[str, str]:
        t = issue_token(self.settings, office=office, roles=list(roles), user=user, clearance=clearance)
        return {"Authorization": f"Bearer {t}"}

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30)


@pytest.fixture(scope="module")
async def system_database(stack: object, settings: Settings) -> AsyncIterator[str]:
    from tests.conftest import create_database, drop_database

    dsn = await create_database(settings)
    yield dsn
    await drop_database(settings, dsn)


@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    """More environment for the module's services (a module overrides this fixture to set some)."""
    return {}


@pytest.fixture(scope="module")
def system(
    settings: Settings,
    system_database: str,
    bootstrap: str,
    system_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[System]:
    """Relay + processor (with saga and chaser) + API on their own database, topic and port, shared by
    the tests of one module (each works on documents of its own)."""
    from producers.topics import ensure_topic

    database = system_database
    topic = f"e2e.{uuid.uuid4().hex[:12]}"
    ensure_topic(bootstrap, topic, settings.partitions)
    files_dir = tmp_path_factory.mktemp("files")
    s = settings.with_(pg_dsn=database, events_topic=topic, api_port=free_port(), files_dir=files_dir)
    services = Services(s, "e2e", {"VANTHU_PROCESSOR_CHASE_INTERVAL": "1", **system_env})
    try:
        for name in ("relay", "processor", "api"):
            services.start(name)
        services.wait_api()
        yield System(s, services.base_url, services)
    finally:
        services.stop_all()


@pytest.fixture
async def http(system: System) -> AsyncIterator[httpx.AsyncClient]:
    async with system.client() as c:
        yield c


async def act(
    http: httpx.AsyncClient, headers: dict[str, str], doc: dict[str, Any], action: str, **params: Any
) -> dict[str, Any]:
    """Take an action with If-Match from the document the client holds; returns the new document."""
    resp = await http.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": action, **params},
        headers={**headers, "If-Match": f'"{doc["version"]}"'},
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    body["_position"] = int(resp.headers["x-vanthu-position"])
    return body
