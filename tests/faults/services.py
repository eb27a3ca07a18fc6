"""The system's processes under a supervisor, as a service manager with Restart=always would keep them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from deploy.config.settings import Settings
from tests.toolkit import processes
from tests.toolkit.processes import free_port

PROCESSES = ("relay", "processor", "api")


@dataclass
class Services(processes.Services):
    """Relay, processor and API as real processes, restarted when they die unless held down on purpose
    (what a service manager with Restart=always does); those unplanned restarts are counted."""

    held: set[str] = field(default_factory=set)
    unplanned_restarts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROCESSES, 0))

    @classmethod
    def for_settings(cls, settings: Settings) -> Services:
        services = cls(settings, "faults")
        services.extra = {
            # static membership: a restart rejoins at once
            "VANTHU_PROCESSOR_INSTANCE_ID": f"{services.group}-1",
            "VANTHU_PROCESSOR_SESSION_TIMEOUT": "6",
            "VANTHU_PROCESSOR_CHASE_INTERVAL": "5",
        }
        return services

    def start(self, name: str) -> processes.Process:
        p = super().start(name)
        self.held.discard(name)
        return p

    def start_all(self) -> None:
        for name in PROCESSES:
            self.start(name)
        self.wait_api()

    def kill(self, name: str) -> None:
        """SIGKILL, and keep it down until `start`."""
        self.held.add(name)
        self.processes[name].kill()

    def stop_all(self) -> None:
        self.held.update(PROCESSES)
        super().stop_all()

    async def supervise(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for name, p in self.processes.items():
                if name not in self.held and not p.alive:
                    self.unplanned_restarts[name] += 1
                    p.start()
            await _sleep(stop, 0.2)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


def api_settings(settings: Settings, dsn: str, topic: str, bootstrap: str) -> Settings:
    return settings.with_(pg_dsn=dsn, events_topic=topic, kafka_bootstrap=bootstrap, api_port=free_port())
