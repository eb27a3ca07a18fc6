"""The services under test as real processes (the e2e fixture's Process), on their own database and topic."""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

from deploy.config.db import connect
from deploy.config.settings import Settings
from producers.topics import ensure_topic
from tests.bench.common import LOGS, SERVER_CPU, pinned, service_env, uvicorn_argv
from tests.conftest import create_database, drop_database
from tests.e2e.conftest import Process, _wait_http, free_port


def new_topic(settings: Settings, prefix: str) -> str:
    name = f"bench.{prefix}.{uuid.uuid4().hex[:8]}"
    ensure_topic(settings.bootstrap, name, settings.partitions)
    return name


def delete_topics(settings: Settings, names: list[str]) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id="vanthu-bench")
    try:
        admin.delete_topics(names)
    except Exception:  # a topic already gone is fine
        pass
    finally:
        admin.close()


@dataclass
class Services:
    """Relay, processor and API (any of them) on one database and topic."""

    settings: Settings  # pg_dsn, events_topic and api_port set for this run
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    def env(self, **extra: str) -> dict[str, str]:
        return service_env(self.settings, VANTHU_PROCESSOR_GROUP=f"bench-{self.run}", **extra)

    def start(self, name: str, argv: list[str], **extra: str) -> Process:
        p = Process(name, argv, self.env(**extra), LOGS / f"{self.run}-{name}.log")
        p.start()
        self.processes[name] = p
        return p

    def relay(self) -> Process:
        return self.start("relay", [sys.executable, "-m", "producers.relay"])

    def processor(self, saga: bool = True, **extra: str) -> Process:
        argv = [sys.executable, "-m", "processors.worker"]
        return self.start("processor", argv, VANTHU_PROCESSOR_SAGA="1" if saga else "0", **extra)

    def api(self, app: str = "api.app:app", cpu: int | None = SERVER_CPU, name: str = "api") -> Process:
        p = self.start(name, uvicorn_argv(app, self.settings.api_port, cpu))
        _wait_http(f"{self.base_url}/healthz", p)
        return p

    def pid(self, name: str) -> int:
        proc = self.processes[name].proc
        assert proc is not None
        return proc.pid

    def stop(self, name: str) -> None:
        p = self.processes.pop(name, None)
        if p is not None:
            p.stop()

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)


async def fresh(settings: Settings, prefix: str) -> tuple[Settings, str]:
    """A migrated database and a topic of their own; returns the settings pointing at them."""
    dsn = await create_database(settings)
    topic = new_topic(settings, prefix)
    return settings.with_(pg_dsn=dsn, events_topic=topic, api_port=free_port()), topic


async def discard(settings: Settings, base: Settings) -> None:
    await drop_database(base, settings.dsn)
    delete_topics(base, [settings.events_topic])


async def applied(dsn: str, topic: str) -> int:
    """Records of `topic` the live read models have consumed."""
    conn = await connect(dsn)
    try:
        return await applied_on(conn, topic)
    finally:
        await conn.close()


async def applied_on(conn: Any, topic: str) -> int:
    total = await conn.fetchval(
        """SELECT coalesce(sum("offset" + 1), 0) FROM rm.offsets WHERE projection = 'read_models'
           AND topic = $1""",
        topic,
    )
    return int(total)


async def wait_for(check: Any, within: float, what: str, every: float = 0.2) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")


def token_headers(settings: Settings, office: str, *roles: str, user: str | None = None) -> dict[str, str]:
    from api.auth import issue_token

    t = issue_token(settings, office=office, roles=list(roles), user=user)
    return {"Authorization": f"Bearer {t}"}


__all__ = ["SERVER_CPU", "Services", "applied", "fresh", "pinned"]
