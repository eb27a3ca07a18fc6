"""Stored events as Kafka records: key = document id, value = the canonical bytes, verbatim; headers say
the type, schema version and position, and on a keyed command's last event its idempotency record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

# What the relay and republish read for each event, in position order.
SELECT_EVENT = (
    "e.position, e.stream_id, e.type, e.schema_version, e.body, "
    "(SELECT json_build_object('key', k.key, 'request_hash', encode(k.request_hash, 'hex'), "
    "'version', k.version, 'warnings', k.warnings)::text FROM idempotency_keys k "
    "WHERE k.position = e.position) AS idempotency"
)


def _partitioner() -> Any:
    from kafka.partitioner.abc import Partitioner
    from kafka.partitioner.default import DefaultPartitioner, murmur2

    class KeyedPartitioner(Partitioner):  # type: ignore[misc]
        """Kafka's default choice for a keyed record (murmur2 of the key, as the Java client), kept per
        key: a document's events share the key, and the pure-Python hash was an eighth of the relay's
        time. Records without a key go the default way."""

        def __init__(self) -> None:
            self.default = DefaultPartitioner()
            self.chosen: dict[tuple[str, bytes, int], int] = {}

        def partition(
            self,
            topic: str,
            key: Any,
            serialized_key: bytes | None,
            value: Any,
            serialized_value: Any,
            cluster: Any,
        ) -> int:
            if serialized_key is None:
                return int(
                    self.default.partition(topic, key, serialized_key, value, serialized_value, cluster)
                )
            partitions = cluster.partitions_for_topic(topic)
            if not partitions:
                return int(
                    self.default.partition(topic, key, serialized_key, value, serialized_value, cluster)
                )
            known = (topic, serialized_key, len(partitions))
            chosen = self.chosen.get(known)
            if chosen is None:
                chosen = sorted(partitions)[(murmur2(serialized_key) & 0x7FFFFFFF) % len(partitions)]
                if len(self.chosen) >= 100_000:
                    self.chosen.clear()
                self.chosen[known] = chosen
            return chosen

    return KeyedPartitioner()


def make_producer(bootstrap: str, client_id: str = "vanthu-relay") -> Any:
    """kafka-python producer: acks=all and idempotent, so up to five requests may be in flight per broker
    and a retry still never reorders (the broker refuses a batch whose sequence number is out of turn).
    Batches are lz4-compressed; record CRCs come from the `crc32c` C module (kafka-python falls back to
    pure Python without it, which cost the relay most of its time)."""
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        max_in_flight_requests_per_connection=5,
        compression_type="lz4",
        partitioner=_partitioner(),
        linger_ms=5,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
        max_block_ms=15000,
        request_timeout_ms=15000,
        delivery_timeout_ms=60000,
        retry_backoff_ms=200,
    )


def headers(row: asyncpg.Record) -> list[tuple[str, bytes]]:
    out = [
        ("type", row["type"].encode()),
        ("schema_version", str(row["schema_version"]).encode()),
        ("position", str(row["position"]).encode()),
    ]
    if row["idempotency"] is not None:
        out.append(("idempotency", row["idempotency"].encode()))
    return out


def send(producer: Any, topic: str, rows: Sequence[asyncpg.Record]) -> list[Any]:
    """Hand `rows` to the producer in order; their futures (call from one thread only, to keep order)."""
    return [
        producer.send(topic, key=r["stream_id"].encode(), value=bytes(r["body"]), headers=headers(r))
        for r in rows
    ]


def acknowledged(producer: Any, futures: Sequence[Any], timeout_s: float = 60.0) -> None:
    """Wait until Kafka acknowledged every record sent (raises if any failed)."""
    producer.flush(timeout=timeout_s)
    for future in futures:
        future.get(timeout=timeout_s)


def publish(producer: Any, topic: str, rows: Sequence[asyncpg.Record], timeout_s: float = 60.0) -> None:
    """Send `rows` in order and wait until Kafka acknowledged every one (raises if any failed)."""
    acknowledged(producer, send(producer, topic, rows), timeout_s)
