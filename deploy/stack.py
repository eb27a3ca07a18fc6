"""`vanthu stack up|down|status|logs|reset`: the local Kafka and PostgreSQL the project runs on."""

from __future__ import annotations

import shutil
import time

from deploy import kafka
from deploy.config.settings import Settings
from deploy.postgres import Postgres
from deploy.procs import Managed, StackError, port_open, say, tail
from deploy.services import services
from producers.topics import ensure_topic


class Stack:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.postgres = Postgres(self.settings)
        self.kafka = kafka.single_node(self.settings)
        self.cluster = kafka.cluster_nodes(self.settings)

    # the single-node stack ---------------------------------------------------------------------
    def up(self) -> None:
        started = time.monotonic()
        s = self.settings
        self.postgres.up()
        if not self.kafka.managed.running():
            self.kafka.start(kafka.cluster_id_for(self.kafka.folder), replication=1)
        else:
            say(f"kafka already running on {self.kafka.bootstrap}")
        self.kafka.wait_listening()
        kafka.wait_serving(self.kafka.bootstrap)
        ensure_topic(self.kafka.bootstrap, s.events_topic, s.partitions)
        self.migrate()
        say(f"stack ready in {time.monotonic() - started:.1f}s: {self.describe()}")

    def migrate(self) -> None:
        import asyncio

        from deploy.migrate import migrate_dsn

        applied = asyncio.run(migrate_dsn(self.settings.dsn))
        if applied:
            say(f"applied migrations: {', '.join(applied)}")

    def describe(self) -> str:
        return (
            f"kafka {self.kafka.bootstrap} (topic {self.settings.events_topic}), postgres {self.settings.dsn}"
        )

    def down(self) -> list[str]:
        stopped = []
        for node in [self.kafka, *self.cluster]:
            if node.managed.stop(timeout=30):
                stopped.append(node.name)
        for m in self.services():
            if m.stop():
                stopped.append(m.name)
        if self.postgres.down():
            stopped.append("postgres")
        say(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        return stopped

    def services(self) -> list[Managed]:
        """The services `make run` starts (relay, processors, API), as managed processes."""
        s = self.settings
        return [Managed(svc.name, s.data_dir / "run", s.data_dir / "logs", svc.marker) for svc in services(s)]

    def status(self) -> list[tuple[str, str, str]]:
        rows = [
            (
                "postgres",
                f"127.0.0.1:{self.settings.pg_port}",
                "running" if self.postgres.running() else _stopped(self.settings.pg_port),
            )
        ]
        for node in [self.kafka, *self.cluster]:
            state = f"running (pid {node.managed.pid()})" if node.managed.running() else _stopped(node.port)
            rows.append((node.name, node.bootstrap, state))
        for m in self.services():
            if m.running():
                rows.append((m.name, "", f"running (pid {m.pid()})"))
        return rows

    def logs(self, name: str | None = None, lines: int = 40) -> str:
        log_dir = self.settings.data_dir / "logs"
        files = sorted(log_dir.glob("*.log")) if log_dir.exists() else []
        if name:
            files = [f for f in files if f.stem == name]
            if not files:
                raise StackError(f"no log named {name} in {log_dir}")
        parts = [f"==> {f} <==\n{tail(f, lines)}" for f in files]
        return "\n\n".join(parts) if parts else f"no logs yet in {log_dir}"

    def reset(self) -> None:
        """Stop everything and delete the stack's data (the jar cache stays)."""
        self.down()
        if not self.postgres.root.is_relative_to(self.settings.data_dir):  # a relocated cluster
            shutil.rmtree(self.postgres.root.parent, ignore_errors=True)
        shutil.rmtree(self.settings.data_dir, ignore_errors=True)
        say(f"removed {self.settings.data_dir}")

    # the 3-broker cluster for fault tests ------------------------------------------------------
    def cluster_up(self) -> str:
        cid = kafka.cluster_id_for(self.settings.data_dir / "cluster")
        for node in self.cluster:
            node.start(cid, replication=3)
        for node in self.cluster:
            node.wait_listening()
        bootstrap = self.cluster_bootstrap
        kafka.wait_serving(bootstrap)
        say(f"3-broker cluster ready: {bootstrap}")
        return bootstrap

    @property
    def cluster_bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.cluster)

    def cluster_down(self) -> None:
        for node in self.cluster:
            node.managed.stop(timeout=30)

    def stop_broker(self, node_id: int) -> None:
        self.cluster[node_id - 1].managed.stop(timeout=30)

    def start_broker(self, node_id: int) -> None:
        node = self.cluster[node_id - 1]
        node.start(kafka.cluster_id_for(self.settings.data_dir / "cluster"), replication=3)
        node.wait_listening()


def _stopped(port: int) -> str:
    return "stopped (port taken by another process)" if port_open(port) else "stopped"
