"""The real broker: kafka-python (our producer) and aiokafka (faust's client) agree on every record."""

from __future__ import annotations

from collections.abc import Callable

from aiokafka import AIOKafkaConsumer
from kafka import KafkaProducer


async def test_thousand_records_produced_with_kafka_python_come_back_in_order_with_aiokafka(
    bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(partitions=3)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    for i in range(1000):
        producer.send(topic, key=f"doc-{i % 7}".encode(), value=f"{i}".encode())
    producer.flush()
    producer.close()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    per_key: dict[bytes, list[int]] = {}
    seen = 0
    try:
        while seen < 1000:
            batches = await consumer.getmany(timeout_ms=2000)
            assert batches, f"consumer stalled after {seen} records"
            for records in batches.values():
                for r in records:
                    assert r.key is not None and r.value is not None
                    per_key.setdefault(r.key, []).append(int(r.value))
                    seen += 1
    finally:
        await consumer.stop()

    assert seen == 1000
    assert sorted(v for vs in per_key.values() for v in vs) == list(range(1000))
    for key, values in per_key.items():  # one key, one partition: order is kept per key
        assert values == sorted(values), key
