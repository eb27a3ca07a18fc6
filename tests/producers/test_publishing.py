"""The relay's partitioner keeps Kafka's default choice for keyed records: a document's events land
where any Kafka client (and the events published before it) put them."""

from __future__ import annotations

import uuid

from kafka.partitioner.default import DefaultPartitioner

from producers.publishing import _partitioner


class Metadata:
    """The two questions a partitioner asks of the cluster's metadata, for one topic."""

    def __init__(self, topic: str, partitions: int) -> None:
        self.topic, self.parts = topic, set(range(partitions))

    def topics(self) -> set[str]:
        return {self.topic}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.parts

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.parts


def test_same_partition_as_kafkas_default_for_every_key() -> None:
    ours, theirs = _partitioner(), DefaultPartitioner()
    for partitions in (1, 3, 12):
        meta = Metadata("vanthu.events", partitions)
        for key in [str(uuid.uuid4()).encode() for _ in range(2000)] + [b"office:tu-hcm", b"calendar:2026"]:
            for _ in range(2):  # the second time from what it kept
                got = ours.partition("vanthu.events", key, key, None, None, meta)
                assert got == theirs.partition("vanthu.events", key, key, None, None, meta)
