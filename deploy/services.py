"""The long-running services of vanthu, declared once: `make run` starts them, `stack down` stops them."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from deploy.config.settings import Settings


@dataclass(frozen=True)
class Service:
    name: str
    module_args: tuple[str, ...]  # arguments after `python -m`
    marker: str  # a string its command line contains, so a stale pid file never names another process

    def argv(self) -> list[str]:
        return [sys.executable, "-m", *self.module_args]


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
        # The read-model processor (faust): one worker; run more with `vanthu processor` to share partitions.
        Service("processor", ("processors.worker",), marker="processors.worker"),
    ]
