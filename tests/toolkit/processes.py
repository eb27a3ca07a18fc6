"""The services under test as real processes. `deploy.procs.Managed` starts, stops and kill -9s them, as it
does for `make run`; this adds what tests want on top: the command and environment to start again with,
a free port, a log per run, waiting until the API answers."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from deploy.config.settings import REPO_ROOT, Settings
from deploy.procs import Managed, port_open
from deploy.services import services
from tests.toolkit.waiting import wait_until_sync

LOGS = REPO_ROOT / ".stack" / "logs" / "tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair() -> int:
    """A free port whose next port is free too (a broker's listener and its controller's)."""
    for _ in range(50):
        port = free_port()
        if port < 60000 and not port_open(port + 1):
            return port
    raise RuntimeError("no free port pair")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a service reads, pointed at the database, broker, topic and port of `settings`."""
    return {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "VANTHU_PG_DSN": settings.dsn,
        "VANTHU_KAFKA_BOOTSTRAP": settings.bootstrap,
        "VANTHU_EVENTS_TOPIC": settings.events_topic,
        "VANTHU_API_PORT": str(settings.api_port),
        # the relay's signing key and witness file live with the stack the settings name
        "VANTHU_ANCHOR_KEY_FILE": str(settings.anchor_key_path),
        "VANTHU_WITNESS_FILE": str(settings.witness_path),
        "VANTHU_FILES_DIR": str(settings.files_root),
        **extra,
    }


def service_command(settings: Settings, name: str) -> tuple[list[str], str]:
    """The argv and pid marker `make run` starts the service `name` with (deploy/services.py)."""
    for svc in services(settings.with_(api_host="127.0.0.1")):
        if svc.name == name:
            return svc.argv(), svc.marker
    raise KeyError(f"no service named {name!r}")


@dataclass
class Process:
    """One process under test: a `Managed` (its pid file beside its log) and how to start it (again)."""

    managed: Managed
    argv: list[str]
    env: dict[str, str]
    pid: int | None = None  # of the latest start
    starts: int = 0

    @classmethod
    def new(
        cls, name: str, argv: Sequence[str], env: dict[str, str], marker: str, logs: Path = LOGS
    ) -> Process:
        return cls(Managed(name, run_dir=logs, log_dir=logs, marker=marker), list(argv), env)

    @property
    def name(self) -> str:
        return self.managed.name

    @property
    def log(self) -> Path:
        return self.managed.log_file

    @property
    def alive(self) -> bool:
        return self.managed.alive()

    def start(self) -> Process:
        self.starts += 1
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            out.write(f"\n===== start {self.starts} =====\n".encode())
        self.pid = self.managed.start(self.argv, env=self.env, cwd=REPO_ROOT)
        return self

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds."""
        self.managed.stop(timeout)

    def kill(self) -> None:
        """kill -9: no shutdown, no commit, no goodbye to the group."""
        self.managed.kill()

    def wait_http(self, url: str, within: float = 60) -> None:
        """Until `url` answers 200; fails at once if the process exits."""

        def answers() -> bool:
            assert self.alive, f"{self.name} exited; see {self.log}"
            return http_ok(url)

        wait_until_sync(answers, within, f"{url} to answer; see {self.log}")


@dataclass
class Services:
    """Services under test (relay, processor, API; any of them, any number) on one database, topic and
    port, each a `Process` named `<prefix>-<run>-<name>`; the processors' consumer group is
    `<prefix>-<run>`."""

    settings: Settings  # pg_dsn, events_topic, kafka_bootstrap and api_port set for this run
    prefix: str = "test"
    extra: dict[str, str] = field(default_factory=dict)  # environment every one of them gets
    logs: Path = LOGS
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processes: dict[str, Process] = field(default_factory=dict)
    launcher: tuple[str, ...] = ()  # a command every process is started through (e.g. `taskset -c 0-1`)

    @property
    def group(self) -> str:
        return f"{self.prefix}-{self.run}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    def env(self, **extra: str) -> dict[str, str]:
        return service_env(self.settings, VANTHU_PROCESSOR_GROUP=self.group, **{**self.extra, **extra})

    def new(
        self,
        name: str,
        service: str | None = None,
        argv: Sequence[str] | None = None,
        marker: str = "",
        **extra: str,
    ) -> Process:
        """A process called `name`, not started: `argv` (whose command line holds `marker`), or else the
        service `service` (by default the one called `name`) as `make run` starts it."""
        if argv is None:
            argv, marker = service_command(self.settings, service or name)
        assert marker, "a command of its own needs a marker"
        p = Process.new(f"{self.group}-{name}", [*self.launcher, *argv], self.env(**extra), marker, self.logs)
        self.processes[name] = p
        return p

    def start(self, name: str) -> Process:
        """Start `name` again (as it was made), or else the service of that name."""
        return (self.processes.get(name) or self.new(name)).start()

    def wait_api(self, name: str = "api", within: float = 60) -> None:
        self.processes[name].wait_http(f"{self.base_url}/healthz", within)

    def stop(self, name: str) -> None:
        p = self.processes.pop(name, None)
        if p is not None:
            p.stop()

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)
