"""The services under test as real processes (the test toolkit's), on their own database and topic."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from deploy.config.settings import Settings
from deploy.services import services
from producers.topics import ensure_topic
from tests.bench.common import LOGS, SERVER_CPU, pinned, unpinned, uvicorn_argv
from tests.conftest import create_database, drop_database
from tests.toolkit import processes
from tests.toolkit.processes import Process, free_port


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
class Services(processes.Services):
    """Relay, processor and API (any of them) on one database and topic."""

    prefix: str = "bench"
    logs: Path = LOGS
    # On every core (a command that pins itself, `pinned`, still does): the benchmarks pin themselves to
    # the load generator's core while they start services, and a child inherits its parent's affinity
    # (before session 9 the relay and processors of freshness and projection shared that core with it).
    launcher: tuple[str, ...] = tuple(unpinned())

    def relay(self) -> Process:
        return self.start("relay")

    def processors(self, saga: bool = True, **extra: str) -> list[str]:
        """The processor workers as `make run` starts them (`processor_workers` of one group); their names."""
        names = [s.name for s in services(self.settings) if s.marker == "processors.worker"]
        for name in names:
            self.new(name, VANTHU_PROCESSOR_SAGA="1" if saga else "0", **extra).start()
        return names

    def api(self, app: str = "api.app:app", cpu: int | None = SERVER_CPU, name: str = "api") -> Process:
        p = self.new(name, argv=uvicorn_argv(app, self.settings.api_port, cpu), marker=app).start()
        p.wait_http(f"{self.base_url}/healthz")
        return p

    def pid(self, name: str) -> int:
        pid = self.processes[name].pid
        assert pid is not None
        return pid


async def fresh(settings: Settings, prefix: str) -> tuple[Settings, str]:
    """A migrated database and a topic of their own; returns the settings pointing at them."""
    dsn = await create_database(settings)
    topic = new_topic(settings, prefix)
    return settings.with_(pg_dsn=dsn, events_topic=topic, api_port=free_port()), topic


async def discard(settings: Settings, base: Settings) -> None:
    await drop_database(base, settings.dsn)
    delete_topics(base, [settings.events_topic])


def token_headers(settings: Settings, office: str, *roles: str, user: str | None = None) -> dict[str, str]:
    from api.auth import issue_token

    t = issue_token(settings, office=office, roles=list(roles), user=user)
    return {"Authorization": f"Bearer {t}"}


__all__ = ["SERVER_CPU", "Services", "fresh", "pinned"]
