"""A consumed Kafka record, independent of the client that read it (faust, aiokafka or a test)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def tp(self) -> TopicPartition:
        return (self.topic, self.partition)

    def header(self, name: str) -> str | None:
        raw = self.headers.get(name)
        return None if raw is None else raw.decode("utf-8", "replace")

    def headers_json(self) -> dict[str, str]:
        return {k: v.decode("utf-8", "replace") for k, v in self.headers.items()}


def headers_dict(raw: Any) -> dict[str, bytes]:
    """Kafka headers as a dict, from the list of pairs (or mapping) a client gives."""
    if not raw:
        return {}
    pairs: Iterable[tuple[str, Any]] = raw.items() if isinstance(raw, Mapping) else raw
    out: dict[str, bytes] = {}
    for name, value in pairs:
        if value is None:
            continue
        out[str(name)] = value if isinstance(value, bytes) else str(value).encode()
    return out


def from_message(message: Any) -> Record:
    """A record from anything with topic/partition/offset/key/value/headers (faust Message, aiokafka)."""
    return Record(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=_bytes(message.key),
        value=_bytes(message.value),
        headers=headers_dict(getattr(message, "headers", None)),
    )


def _bytes(value: Any) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


def by_partition(records: Sequence[Record]) -> dict[TopicPartition, list[Record]]:
    """Records grouped by partition, each group in offset order."""
    groups: dict[TopicPartition, list[Record]] = {}
    for record in records:
        groups.setdefault(record.tp, []).append(record)
    for group in groups.values():
        group.sort(key=lambda r: r.offset)
    return groups
