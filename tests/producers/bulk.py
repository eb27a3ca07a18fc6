"""Many events fast, straight through the store (no deciding), and the topic read back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from producers import store
from producers.hashing import GENESIS
from schemas.envelope import Actor, Envelope

AT = datetime(2024, 4, 26, 2, 0, tzinfo=UTC)
BOT = Actor(user="u-bulk", office="tu-hcm", roles=("clerk",))


def _event(version: int) -> dict[str, Any]:
    """A task's life: created, assigned, then progress reports (valid events, so streams fold)."""
    if version == 1:
        data = {"office_id": "tu-hcm", "title": "Báo cáo tuần", "description": ""}
        return {"type": "TaskCreated", "schema_version": 1, "data": data}
    if version == 2:
        data = {
            "assignment_id": "A1",
            "lead": {"unit": "tu-hcm.tong-hop", "user": None},
            "cooperating": [],
            "directive": "Xử lý",
            "due_date": "2024-05-10",
            "deadline_working_days": 10,
        }
        return {"type": "DocumentAssigned", "schema_version": 2, "data": data}
    data = {"assignment_id": "A1", "percent": version % 101, "note": f"bước {version}"}
    return {"type": "ProgressReported", "schema_version": 1, "data": data}


@dataclass
class Streams:
    """Documents with their next version and last hash, appended to in rounds."""

    count: int
    versions: dict[str, int] = field(default_factory=dict)
    hashes: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for _ in range(self.count):
            doc = str(uuid.uuid4())
            self.versions[doc], self.hashes[doc] = 0, GENESIS

    def envelopes(self, doc: str, n: int) -> list[Envelope]:
        first = self.versions[doc] + 1
        self.versions[doc] += n
        return [
            Envelope(
                event_id=uuid.uuid4(),
                stream_id=doc,
                version=v,
                occurred_at=AT,
                actor=BOT,
                **_event(v),
            )
            for v in range(first, first + n)
        ]

    async def append_round(self, conn: Any, per_doc: int) -> int:
        """One transaction per document, `per_doc` events each; returns events written."""
        written = 0
        for doc in self.versions:
            envelopes = self.envelopes(doc, per_doc)
            async with conn.transaction():
                appended = await store.append(conn, envelopes, self.hashes[doc])
            self.hashes[doc] = appended[-1].hash
            written += len(appended)
        return written


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of every partition, from the beginning to the current end, in partition order."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        records: dict[int, list[Any]] = {tp.partition: [] for tp in parts}
        remaining = {tp for tp in parts if end[tp] > 0}
        while remaining:
            for tp, batch in consumer.poll(timeout_ms=1000, max_records=50000).items():
                records[tp.partition].extend(batch)
                if batch and batch[-1].offset >= end[tp] - 1:
                    remaining.discard(tp)
        return [r for p in sorted(records) for r in records[p] if r.offset < end[TopicPartition(topic, p)]]
    finally:
        consumer.close()
