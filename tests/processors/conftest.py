"""Fixtures for the processors: worker subprocesses, producing envelopes, a connection to look with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from deploy.config.settings import Settings
from schemas.envelope import Envelope
from tests.toolkit.processes import Process, Services


@dataclass
class Workers(Services):
    """Real `python -m processors.worker` processes of one consumer group, on a test database and topic."""

    def __post_init__(self) -> None:
        s = self.settings
        self.dsn, self.topic, self.bootstrap = s.dsn, s.events_topic, s.bootstrap

    def worker(self, name: str, saga: bool = False, **extra: str) -> Process:
        return self.new(name, "processor", VANTHU_PROCESSOR_SAGA="1" if saga else "0", **extra)


@pytest.fixture
def workers(
    settings: Settings, database: str, bootstrap: str, new_topic: Callable[..., str]
) -> Iterator[Workers]:
    s = settings.with_(pg_dsn=database, events_topic=new_topic(6), kafka_bootstrap=bootstrap)
    pool = Workers(s, "test-processors", {"VANTHU_PROCESSOR_SESSION_TIMEOUT": "6"})
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
