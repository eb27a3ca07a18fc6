"""Poison records for the events topic: what no relay would write, which must not stop the processor."""

from __future__ import annotations

import json
import random
import uuid


def poison_records(count: int, real_ids: list[str], seed: int = 9) -> list[tuple[bytes | None, bytes | None]]:
    """Malformed, truncated, oversized and unknown-type records (key, value). Those keyed by a real
    document are undecodable, which must not hold that document back; unknown types carry ids of their
    own (an unknown event for a real document would rightly stop it until someone looks)."""
    rng = random.Random(seed)
    sample = {
        "event_id": str(uuid.uuid4()),
        "stream_id": "x",
        "version": 1,
        "type": "DocumentReceived",
        "schema_version": 1,
        "occurred_at": "2026-11-20T01:02:03.000000Z",
        "actor": {"user": "mallory", "office": "tu-hcm", "roles": ["clerk"]},
        "causation_id": None,
        "correlation_id": None,
        "idempotency_key": None,
        "data": {"office_id": "tu-hcm"},
    }
    out: list[tuple[bytes | None, bytes | None]] = []
    for i in range(count):
        key = rng.choice(real_ids).encode() if real_ids and i % 2 else f"poison-{uuid.uuid4()}".encode()
        whole = json.dumps({**sample, "stream_id": key.decode()}).encode()
        match i % 10:
            case 0:
                value: bytes | None = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
            case 1:
                value = whole[: rng.randrange(1, len(whole) - 1)]  # truncated
            case 2:
                value = b"{" + b"x" * rng.randrange(300_000, 900_000)  # oversized and broken
            case 3:  # oversized, well formed, for a document of its own, with a version gap
                own = f"poison-{uuid.uuid4()}"
                key = own.encode()
                big = {**sample, "stream_id": own, "version": 2, "data": {"summary": "y" * 600_000}}
                value = json.dumps(big).encode()
            case 4:
                value = b"\xff\xfe\x00not utf-8"
            case 5:
                value = json.dumps([1, 2, 3]).encode()
            case 6:
                value = None  # a tombstone
            case 7:
                value = json.dumps({**sample, "version": "one"}).encode()
            case 8:
                value = b'{"a":' * 5000 + b"1" + b"}" * 5000  # deeply nested
            case _:
                own = f"poison-{uuid.uuid4()}"
                key = own.encode()
                value = json.dumps({**sample, "stream_id": own, "type": "DocumentTeleported"}).encode()
        out.append((key, value))
    return out


def send_poison(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> int:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=2 * 1024 * 1024, request_timeout_ms=30000
    )
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value, headers=[("type", b"Poison")]).get(60)
    finally:
        producer.close()
    return len(records)
