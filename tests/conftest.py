"""Shared fixtures: one real stack per run; each test isolates itself with its own database and topics."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from deploy.config.settings import Settings


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The environment's settings, with a file store of the run's own (not the shared stack's folder)."""
    return Settings.from_env().with_(files_dir=tmp_path_factory.mktemp("files"))


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[object]:
    """The running local stack (Kafka + Postgres); started if it is not up (idempotent)."""
    from deploy.stack import Stack

    s = Stack(settings)
    s.up()
    yield s


@pytest.fixture(scope="session")
def bootstrap(stack: object, settings: Settings) -> str:
    return settings.bootstrap


async def create_database(settings: Settings) -> str:
    """A fresh, migrated database of its own; returns its DSN."""
    from deploy.config.db import connect
    from deploy.migrate import migrate_dsn

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await connect(settings.dsn_for("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = settings.dsn_for(name)
    await migrate_dsn(dsn)
    return dsn


async def drop_database(settings: Settings, dsn: str) -> None:
    from deploy.config.db import connect

    name = dsn.rpartition("/")[2]
    admin = await connect(settings.dsn_for("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database(stack: object, settings: Settings) -> AsyncIterator[str]:
    """A fresh, migrated database of its own; dropped afterwards. Yields its DSN."""
    dsn = await create_database(settings)
    yield dsn
    await drop_database(settings, dsn)


@pytest.fixture
def new_topic(bootstrap: str) -> Callable[..., str]:
    """Makes a topic with a unique name on the single-node broker."""
    from producers.topics import ensure_topic

    def make(partitions: int = 1, prefix: str = "test") -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        ensure_topic(bootstrap, name, partitions)
        return name

    return make


@pytest.fixture(scope="session")
def cluster(stack: object) -> Iterator[object]:
    """The 3-broker KRaft cluster, started for the tests that need it and stopped after the run."""
    from deploy.stack import Stack

    s: Stack = stack  # type: ignore[assignment]
    was_running = all(n.managed.running() for n in s.cluster)
    s.cluster_up()
    yield s
    if not was_running and not os.environ.get("VANTHU_KEEP_CLUSTER"):
        s.cluster_down()


@pytest.fixture(scope="session")
def s3proxy(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One S3Proxy (a real S3 API over a folder) on a free port for the run, stopped at the end."""
    from deploy.s3proxy import S3Proxy
    from tests.toolkit.processes import free_port

    server = S3Proxy(tmp_path_factory.mktemp("s3proxy"), free_port())
    server.start(settings)
    yield server
    server.stop()


@pytest.fixture(params=["directory", "s3"])
def files_settings(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: os.PathLike[str]
) -> Settings:
    """Settings whose file store is a fresh folder, or a fresh bucket of the run's S3Proxy: every file test
    runs against both backends."""
    from pathlib import Path

    base = settings.with_(files_dir=Path(tmp_path) / "files")
    if request.param == "directory":
        return base
    server = request.getfixturevalue("s3proxy")
    return server.settings(base, f"t-{uuid.uuid4().hex[:12]}")  # type: ignore[attr-defined, no-any-return]
