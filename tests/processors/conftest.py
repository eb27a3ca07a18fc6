"""Fixtures for the processors: worker subprocesses, producing envelopes, waiting on conditions."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deploy.config.settings import REPO_ROOT
from schemas.envelope import Envelope

LOGS = REPO_ROOT / ".stack" / "logs" / "tests"


async def wait_until(
    check: Callable[[], Awaitable[bool]], within: float = 60, what: str = "condition", every: float = 0.05
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


@dataclass
class Worker:
    """A real `python -m processors.worker` process."""

    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Worker:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n===== start {self.starts} =====\n".encode())
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "processors.worker"],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        """kill -9: no shutdown, no commit, no goodbye to the group."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Workers:
    dsn: str
    topic: str
    bootstrap: str
    group: str = field(default_factory=lambda: f"test-processors-{uuid.uuid4().hex[:8]}")
    started: list[Worker] = field(default_factory=list)

    def new(self, name: str, saga: bool = False, **extra: str) -> Worker:
        LOGS.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "VANTHU_PG_DSN": self.dsn,
            "VANTHU_KAFKA_BOOTSTRAP": self.bootstrap,
            "VANTHU_EVENTS_TOPIC": self.topic,
            "VANTHU_PROCESSOR_GROUP": self.group,
            "VANTHU_PROCESSOR_SAGA": "1" if saga else "0",
            "VANTHU_PROCESSOR_SESSION_TIMEOUT": "6",
            **extra,
        }
        worker = Worker(env, LOGS / f"{self.group}-{name}.log")
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for w in self.started:
            w.stop()


@pytest.fixture
def workers(database: str, bootstrap: str, new_topic: Callable[..., str]) -> Iterator[Workers]:
    pool = Workers(database, new_topic(6), bootstrap)
    yield pool
    pool.stop_all()


class Producer:
    """Publishes envelopes as the relay does: key = document id, value = canonical JSON, type headers."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaProducer

        self.topic = topic
        self.kafka = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=2,
            batch_size=512 * 1024,
            max_in_flight_requests_per_connection=1,  # per-document order survives retries
        )

    def send(self, envelopes: Iterable[Envelope]) -> int:
        n = 0
        for e in envelopes:
            headers = [("type", e.type.encode()), ("schema_version", str(e.schema_version).encode())]
            self.kafka.send(self.topic, key=e.stream_id.encode(), value=e.to_json(), headers=headers)
            n += 1
        self.kafka.flush()
        return n

    def send_raw(
        self, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> Any:
        meta = self.kafka.send(self.topic, key=key, value=value, headers=headers or []).get(30)
        return meta

    def close(self) -> None:
        self.kafka.close()


@pytest.fixture
def producer(workers: Workers, bootstrap: str) -> Iterator[Producer]:
    p = Producer(bootstrap, workers.topic)
    yield p
    p.close()


@pytest.fixture
async def db(database: str) -> AsyncIterator[Any]:
    from deploy.config.db import connect

    conn = await connect(database)
    yield conn
    await conn.close()


async def applied_count(conn: Any, topic: str) -> int:
    """How many records of `topic` the read models have consumed."""
    total = await conn.fetchval(
        """SELECT coalesce(sum("offset" + 1), 0) FROM rm.offsets WHERE projection = 'read_models'
           AND topic = $1""",
        topic,
    )
    return int(total)
