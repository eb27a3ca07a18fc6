"""Topic metadata through aiokafka."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer


async def partitions(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    """The topic's partition ids, from fresh cluster metadata (LookupError if it does not exist)."""
    # aiokafka's public partitions_for_topic only knows topics it already subscribed to or assigned.
    cluster = await consumer._client.fetch_all_metadata()
    found = cluster.partitions_for_topic(topic)
    if not found:
        raise LookupError(f"topic {topic!r} does not exist")
    return sorted(found)


def replay_consumer(bootstrap: str) -> AIOKafkaConsumer:
    """A consumer outside any group that reads a topic from its start in large fetches (rebuild, compare)."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_wait_ms=100,
    )
