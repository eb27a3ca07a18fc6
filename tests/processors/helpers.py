"""Turning envelopes into consumed records, as Kafka would number them."""

from __future__ import annotations

from collections.abc import Iterable

from processors.records import Record
from schemas.envelope import Envelope


class Log:
    """An in-memory partitioned log: documents hash to partitions, offsets count up per partition."""

    def __init__(self, topic: str = "t", partitions: int = 3) -> None:
        self.topic, self.partitions = topic, partitions
        self.next: dict[int, int] = {}

    def partition_of(self, key: str) -> int:
        return sum(key.encode()) % self.partitions

    def append(self, envelopes: Iterable[Envelope]) -> list[Record]:
        return [self.raw(e.stream_id.encode(), e.to_json(), e.type) for e in envelopes]

    def raw(self, key: bytes | None, value: bytes | None, type_: str = "") -> Record:
        p = self.partition_of((key or b"").decode("utf-8", "replace"))
        offset = self.next.get(p, 0)
        self.next[p] = offset + 1
        return Record(self.topic, p, offset, key, value, {"type": type_.encode()})
