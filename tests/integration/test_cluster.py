"""The 3-broker KRaft cluster: replicated writes survive the loss of one broker."""

from __future__ import annotations

import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from producers.topics import ensure_topic


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, retries=20, request_timeout_ms=30000
    )
    try:
        for v in values:
            producer.send(topic, key=b"k", value=v).get(timeout=60)  # acks=all: every in-sync replica has it
    finally:
        producer.close()


def _read_all(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    got: list[bytes] = []
    try:
        for _ in range(120):
            for records in consumer.poll(timeout_ms=500).values():
                got.extend(r.value for r in records)
            if len(got) >= expected:
                break
    finally:
        consumer.close()
    return got


def test_replicated_topic_accepts_acks_all_writes_with_one_broker_stopped(cluster: object) -> None:
    from deploy.stack import Stack

    stack: Stack = cluster  # type: ignore[assignment]
    bootstrap = stack.cluster_bootstrap
    topic = f"test.replicated.{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, 1, replication=3, configs={"min.insync.replicas": "2"})

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    assert sorted(described["partitions"][0]["replica_nodes"]) == [1, 2, 3]

    _produce(bootstrap, topic, [b"before-%d" % i for i in range(50)])
    stack.stop_broker(3)
    try:
        assert not stack.cluster[2].managed.running()
        _produce(bootstrap, topic, [b"during-%d" % i for i in range(50)])
    finally:
        stack.start_broker(3)
    _produce(bootstrap, topic, [b"after-%d" % i for i in range(10)])

    values = _read_all(bootstrap, topic, 110)
    expected = [b"before-%d" % i for i in range(50)] + [b"during-%d" % i for i in range(50)]
    expected += [b"after-%d" % i for i in range(10)]
    assert values == expected
