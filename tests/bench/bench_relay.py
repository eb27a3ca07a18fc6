"""relay_throughput: events/s from the store's outbox to Kafka (acks=all), against Kafka's own
ProducerPerformance tool with the same record size and acks=all. The relay publishes the bulk-loaded
dataset, so its topic is what the rebuild benchmark replays."""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

from deploy.config.db import connect
from deploy.kafka import jars, require_java
from tests.bench.common import CpuMeter
from tests.bench.system import Services, delete_topics, new_topic
from tests.toolkit.waiting import wait_until


def _end_offsets(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or []]
        return sum(c.end_offsets(parts).values())
    finally:
        c.close()


async def relay(ctx: Any) -> dict[str, Any]:
    """Start the relay on the loaded store (every position in the outbox) and time it to empty."""
    ds = ctx.dataset
    total = ds.loaded.events
    services = Services(ds.settings)
    conn = await connect(ds.settings.dsn)
    try:
        cpu = CpuMeter()
        started = time.monotonic()
        services.relay()
        cpu.pids["relay"] = services.pid("relay")
        cpu.start()
        marks: dict[str, float] = {}

        async def drained() -> bool:
            left = await conn.fetchval("SELECT count(*) FROM outbox")
            if left < total and "first" not in marks:
                marks["first"] = time.monotonic()
            return left == 0

        await wait_until(drained, within=1800, what="the relay to drain the outbox", every=0.25)
        done = time.monotonic()
        usage = cpu.stop()
    finally:
        services.stop_all()
        await conn.close()
    on_topic = _end_offsets(ds.settings.bootstrap, ds.settings.events_topic)
    first = marks.get("first", started)
    return {
        "events": total,
        "events_per_s": round(total / (done - first), 0),
        "wall_s_including_start": round(done - started, 1),
        "record_bytes_avg": round(ds.loaded.record_bytes_avg),
        "records_on_topic": on_topic,
        "cpu": usage,
    }


_PERF = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency")


def kafka_perf(ctx: Any, records: int, record_size: int) -> dict[str, Any]:
    """org.apache.kafka.tools.ProducerPerformance from the broker's jars, acks=all, on a fresh topic."""
    settings = ctx.settings
    topic = new_topic(settings, "perf")
    cmd = [
        require_java(),
        "-Xmx512m",
        "-cp",
        f"{jars(settings)}/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(records),
        "--record-size",
        str(record_size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={settings.bootstrap}",
        "acks=all",
    ]
    try:
        cpu = CpuMeter().start()
        t0 = time.monotonic()
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        wall = time.monotonic() - t0
        usage = cpu.stop()
    finally:
        delete_topics(settings, [topic])
    lines = [m for m in _PERF.finditer(out.stdout)]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"ProducerPerformance failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    last = lines[-1]
    return {
        "tool": "org.apache.kafka.tools.ProducerPerformance (kafka-tools jar)",
        "records": int(last.group(1)),
        "record_size": record_size,
        "events_per_s": float(last.group(2)),
        "mb_per_s": float(last.group(3)),
        "avg_latency_ms": float(last.group(4)),
        "wall_s_including_jvm_start": round(wall, 1),
        "producer_props": "acks=all (idempotence on by default), other settings default",
        "cpu": usage,
    }


async def run(ctx: Any) -> dict[str, Any]:
    ours = await relay(ctx)
    base = kafka_perf(ctx, ours["events"], ours["record_bytes_avg"])
    return {
        **ours,
        "baseline": base,
        "ratio_vs_kafka_perf": round(ours["events_per_s"] / base["events_per_s"], 3),
        "parameters": {
            "events": ours["events"],
            "partitions": ctx.settings.partitions,
            "relay": "python -m producers.relay (kafka-python's client and protocol classes: one lz4 v2 "
            "record batch per partition per page, idempotent, acks=all; windows of 4 pages of 2000 rows "
            "in one transaction, pages pipelined)",
            "bulk_loaded": "events and outbox written by tests/bench/dataset.py (COPY); the relay publishes",
        },
    }
