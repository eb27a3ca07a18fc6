"""The long-running services of vanthu, declared once: `make run` starts them, `stack down` stops them."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from deploy.config.settings import Settings


@dataclass(frozen=True)
class Service:
    name: str
    module_args: tuple[str, ...]  # arguments after `python -m`
    marker: str  # a string its command line contains, so a stale pid file never names another process
    env: tuple[tuple[str, str], ...] = ()  # variables it gets on top of the environment

    def argv(self) -> list[str]:
        return [sys.executable, "-m", *self.module_args]

    def environ(self) -> dict[str, str] | None:
        """The environment to start it with (None: the caller's own)."""
        return {**os.environ, **dict(self.env)} if self.env else None


def services(settings: Settings) -> list[Service]:
    """Every service that exists today, in start order."""
    return [
        Service("relay", ("producers.relay",), marker="producers.relay"),
        Service(
            "api",
            (
                "uvicorn",
                "api.app:app",
                "--host",
                settings.api_host,
                "--port",
                str(settings.api_port),
                "--no-access-log",
            ),
            marker="api.app:app",
        ),
        # The read-model processors (faust): `processor_workers` workers of one group share the partitions
        # (one Python process applies about 9,000 events/s on this machine; two, one per core, about 14,000).
        *(
            Service(processor_name(n), ("processors.worker",), "processors.worker", _instance(settings, n))
            for n in range(1, max(1, settings.processor_workers) + 1)
        ),
    ]


def _instance(settings: Settings, n: int) -> tuple[tuple[str, str], ...]:
    """Static membership ids must differ between the workers of a group: worker n > 1 gets `<id>-n`."""
    if n == 1 or not settings.processor_instance_id:
        return ()
    return (("VANTHU_PROCESSOR_INSTANCE_ID", f"{settings.processor_instance_id}-{n}"),)


def processor_name(n: int) -> str:
    """The service name of processor worker n (1, 2, ...): "processor", "processor-2", ..."""
    return "processor" if n == 1 else f"processor-{n}"
