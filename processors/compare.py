"""`vanthu audit compare`: the store, the events topic and the read models, document by document.

Each copy names every document's newest event: its version, its event id and the sha256 of its bytes
(the store's body, the topic's record value, the digest the read model kept when it applied it). A
document where the three disagree is a difference; so is a topic that holds two different events at one
version (a forged record beside the real one). Records the read models dead-lettered are left out and
counted: they were refused already and wait in `vanthu deadletters`. Meaningful once the relay and the
processors have caught up (a difference on a busy system may be lag: run it again).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import TopicPartition

from deploy.config.db import Conn
from processors.schema import LIVE_SCHEMA, schema_name
from processors.topics import partitions, replay_consumer
from schemas.acts import is_act_stream

MAX_DIFFERENCES = 100


@dataclass(frozen=True, slots=True)
class Head:
    """A document's newest event as one copy holds it."""

    version: int
    event_id: str | None  # None: the read model has the document but no record of its events
    digest: str | None  # hex sha256 of the event's bytes

    def brief(self) -> str:
        return f"v{self.version} {self.event_id or '?'} {(self.digest or '?')[:12]}"


@dataclass(frozen=True, slots=True)
class Difference:
    document_id: str
    store: Head | None
    topic: Head | None
    read_models: Head | None
    detail: str = ""

    def describe(self) -> str:
        def show(h: Head | None) -> str:
            return "-" if h is None else h.brief()

        text = (
            f"{self.document_id}: store {show(self.store)} | topic {show(self.topic)} | "
            f"read models {show(self.read_models)}"
        )
        return f"{text} ({self.detail})" if self.detail else text


@dataclass
class CompareReport:
    documents: int = 0
    matching: int = 0
    topic_records: int = 0
    undecodable: int = 0  # topic records that are not events and were not dead-lettered either
    dead_lettered: int = 0  # topic records the read models refused (left out of the comparison)
    differences: list[Difference] = field(default_factory=list)
    more_differences: int = 0
    seconds: float = 0.0

    @property
    def mismatches(self) -> int:
        return len(self.differences) + self.more_differences

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def add(self, difference: Difference) -> None:
        if len(self.differences) < MAX_DIFFERENCES:
            self.differences.append(difference)
        else:
            self.more_differences += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "documents": self.documents,
            "matching": self.matching,
            "mismatches": self.mismatches,
            "topic_records": self.topic_records,
            "undecodable": self.undecodable,
            "dead_lettered": self.dead_lettered,
            "differences": [asdict(d) for d in self.differences],
            "seconds": round(self.seconds, 3),
        }


async def store_heads(conn: Conn) -> dict[str, Head]:
    rows = await conn.fetch(
        "SELECT DISTINCT ON (stream_id) stream_id, version, event_id, sha256(body) AS digest "
        "FROM events ORDER BY stream_id, version DESC"
    )
    return {r["stream_id"]: Head(r["version"], str(r["event_id"]), bytes(r["digest"]).hex()) for r in rows}


async def read_model_heads(conn: Conn, schema: str = LIVE_SCHEMA) -> dict[str, Head]:
    s = schema_name(schema)
    rows = await conn.fetch(
        f"""SELECT d.id, d.version, e.event_id, e.digest
            FROM {s}.documents d
            LEFT JOIN {s}.event_ids e ON e.document_id = d.id AND e.version = d.version"""
    )
    return {
        r["id"]: Head(
            r["version"],
            None if r["event_id"] is None else str(r["event_id"]),
            None if r["digest"] is None else bytes(r["digest"]).hex(),
        )
        for r in rows
    }


async def topic_heads(
    bootstrap: str, topic: str, report: CompareReport, refused: frozenset[tuple[int, int]] = frozenset()
) -> tuple[dict[str, Head], dict[str, str]]:
    """The newest event of every document on the topic, and the documents it holds two events of at one
    version (the first such, described)."""
    consumer = replay_consumer(bootstrap)
    await consumer.start()
    heads: dict[str, Head] = {}
    seen: dict[tuple[str, int], Head] = {}
    doubles: dict[str, str] = {}  # document -> the first version it has two events at
    try:
        tps = [TopicPartition(topic, p) for p in await partitions(consumer, topic)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=10000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= end[tp]:
                        remaining.discard(tp)
                        break
                    report.topic_records += 1
                    if (tp.partition, record.offset) in refused:
                        report.dead_lettered += 1
                        continue
                    try:
                        raw = json.loads(record.value)
                        document, version, event_id = (
                            str(raw["stream_id"]),
                            int(raw["version"]),
                            raw["event_id"],
                        )
                    except Exception:
                        report.undecodable += 1
                        continue
                    head = Head(version, str(event_id), hashlib.sha256(record.value).hexdigest())
                    before = seen.setdefault((document, version), head)
                    if before != head and document not in doubles:
                        doubles[document] = (
                            f"the topic holds two events at v{version}: {before.brief()} and "
                            f"{head.brief()} (partition {tp.partition}, offset {record.offset})"
                        )
                    if document not in heads or heads[document].version < version:
                        heads[document] = head
                if records and records[-1].offset >= end[tp] - 1:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return heads, doubles


async def compare(conn: Conn, bootstrap: str, topic: str, schema: str = LIVE_SCHEMA) -> CompareReport:
    """Hold the store, `topic` and the read models in `schema` against each other."""
    started = time.perf_counter()
    report = CompareReport()
    store = await store_heads(conn)
    letters = f'SELECT partition, "offset" FROM {schema_name(schema)}.dead_letters WHERE topic = $1'
    refused = frozenset((r["partition"], r["offset"]) for r in await conn.fetch(letters, topic))
    topic_h, doubles = await topic_heads(bootstrap, topic, report, refused)
    models = await read_model_heads(conn, schema)
    ids = sorted(set(store) | set(topic_h) | set(models))
    report.documents = len(ids)
    for document in ids:
        s, t, m = store.get(document), topic_h.get(document), models.get(document)
        if is_act_stream(document):  # a term or a calendar: in the store and the topic, no read model
            m = s
        if s is not None and s == t == m and document not in doubles:
            report.matching += 1
        else:
            report.add(Difference(document, s, t, m, doubles.get(document, "")))
    report.seconds = time.perf_counter() - started
    return report


def describe(report: CompareReport, show: int = 20) -> str:
    head = (
        f"{report.documents} documents, {report.matching} the same in store, topic and read models; "
        f"{report.topic_records} topic records ({report.dead_lettered} dead-lettered, "
        f"{report.undecodable} other non-events); "
        f"compared in {report.seconds:.2f}s"
    )
    if report.ok:
        return f"ok: {head}"
    lines = [f"DIFFERENT: {report.mismatches} mismatches; {head}"]
    lines += [f"  {d.describe()}" for d in report.differences[:show]]
    if report.mismatches > show:
        lines.append(f"  … and {report.mismatches - show} more")
    return "\n".join(lines)
