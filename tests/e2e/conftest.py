"""The whole system for end-to-end tests: relay, processor and API as real processes on a fresh
database and topic, driven over HTTP with httpx as a client would."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import issue_token
from deploy.config.settings import REPO_ROOT, Settings

LOGS = REPO_ROOT / ".stack" / "logs" / "tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=REPO_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class System:
    settings: Settings
    base_url: str
    processes: dict[str, Process] = field(default_factory=dict)

    def token(
        self, office: str, *roles: str, user: str | None = None, clearance: str | None = None
    ) -> dict[str, str]:
        t = issue_token(self.settings, office=office, roles=list(roles), user=user, clearance=clearance)
        return {"Authorization": f"Bearer {t}"}

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=30)


def _wait_http(url: str, proc: Process, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.proc is not None and proc.proc.poll() is not None:
            raise AssertionError(f"{proc.name} exited; see {proc.log}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {within}s; see {proc.log}")


@pytest.fixture(scope="module")
async def system_database(stack: object, settings: Settings) -> AsyncIterator[str]:
    from tests.conftest import create_database, drop_database

    dsn = await create_database(settings)
    yield dsn
    await drop_database(settings, dsn)


@pytest.fixture(scope="module")
def system(settings: Settings, system_database: str, bootstrap: str) -> Iterator[System]:
    """Relay + processor (with saga and chaser) + API on their own database, topic and port, shared by
    the tests of one module (each works on documents of its own)."""
    from producers.topics import ensure_topic

    database = system_database
    topic = f"e2e.{uuid.uuid4().hex[:12]}"
    ensure_topic(bootstrap, topic, settings.partitions)
    port = free_port()
    run = uuid.uuid4().hex[:8]
    s = settings.with_(pg_dsn=database, events_topic=topic, api_port=port)
    env = dict(
        os.environ,
        VANTHU_PG_DSN=database,
        VANTHU_EVENTS_TOPIC=topic,
        VANTHU_API_PORT=str(port),
        VANTHU_PROCESSOR_GROUP=f"e2e-{run}",
        VANTHU_PROCESSOR_CHASE_INTERVAL="1",
    )
    py = sys.executable
    system = System(s, f"http://127.0.0.1:{port}")
    for name, argv in (
        ("relay", [py, "-m", "producers.relay"]),
        ("processor", [py, "-m", "processors.worker"]),
        (
            "api",
            [
                py,
                "-m",
                "uvicorn",
                "api.app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
        ),
    ):
        p = Process(name, argv, env, LOGS / f"e2e-{run}-{name}.log")
        p.start()
        system.processes[name] = p
    try:
        _wait_http(f"{system.base_url}/healthz", system.processes["api"])
        yield system
    finally:
        for p in reversed(list(system.processes.values())):
            p.stop()


async def wait_until(check: Callable[[], Any], within: float = 30, what: str = "condition") -> Any:
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


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
