"""The relay's publisher against real brokers: where records land, their headers and order, resending
after a broker restart mid-window, and its idempotent session after errors."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from kafka.partitioner.default import DefaultPartitioner

from deploy import kafka
from deploy.config.settings import Settings
from deploy.procs import port_open
from producers.publishing import Publisher, PublishError
from producers.topics import ensure_topic
from tests.producers.bulk import read_topic
from tests.producers.test_publishing import Metadata
from tests.toolkit.processes import free_port_pair

pytestmark = pytest.mark.timeout(300)

Row = tuple[int, str, str, int, bytes, str | None]


def rows(n: int, docs: int = 60, start: int = 1) -> list[Row]:
    """Events as the relay reads them: (position, stream_id, type, schema_version, body, idempotency)."""
    rng = random.Random(n * 1000 + start)
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(docs)]
    out: list[Row] = []
    for position in range(start, start + n):
        body = json.dumps({"p": position, "note": "bước " * rng.randrange(1, 80)}, ensure_ascii=False)
        idempotency = None if position % 7 else json.dumps({"key": f"k-{position}", "version": 3})
        kind = "ProgressReported" if position % 3 else "DocumentAssigned"
        out.append((position, rng.choice(ids), kind, 1 + position % 2, body.encode(), idempotency))
    return out


def expected_headers(row: Row) -> list[tuple[str, bytes]]:
    position, _, kind, schema_version, _, idempotency = row
    out = [("type", kind.encode()), ("schema_version", str(schema_version).encode())]
    out.append(("position", str(position).encode()))
    if idempotency is not None:
        out.append(("idempotency", idempotency.encode()))
    return out


def check_topic(records: list[Any], sent: Sequence[Row], partitions: int, topic: str) -> None:
    """Every row exactly once, on Kafka's default partition for its key, with its headers, each
    partition in position order."""
    by_position = {r[0]: r for r in sent}
    default, meta = DefaultPartitioner(), Metadata(topic, partitions)
    last: dict[int, int] = {}
    seen: list[int] = []
    for rec in records:
        position = int(dict(rec.headers)["position"])
        row = by_position[position]
        assert rec.key == row[1].encode()
        assert rec.value == row[4]
        assert rec.headers == expected_headers(row)
        assert rec.partition == default.partition(topic, rec.key, rec.key, None, None, meta)
        assert position > last.get(rec.partition, 0), f"partition {rec.partition} out of order at {position}"
        last[rec.partition] = position
        seen.append(position)
    assert sorted(seen) == sorted(by_position), "records lost or doubled"


@pytest.mark.parametrize("max_batch_bytes", [900 * 1024, 20_000])  # 20 kB: several batches per partition
def test_records_land_on_kafkas_default_partition_with_their_headers_in_order(
    bootstrap: str, new_topic: Callable[..., str], max_batch_bytes: int
) -> None:
    topic = new_topic(5)
    sent = rows(5000)
    publisher = Publisher(bootstrap, max_batch_bytes=max_batch_bytes)
    try:
        for i in range(0, len(sent), 1000):  # five pages in flight, then one wait
            publisher.send(topic, sent[i : i + 1000])
        assert publisher.flush() == 5000
        assert sum(publisher.sequences.values()) == 5000
    finally:
        publisher.close()
    check_topic(read_topic(bootstrap, topic), sent, 5, topic)


def test_an_out_of_order_sequence_starts_a_new_session_and_the_window_goes_again(
    bootstrap: str, new_topic: Callable[..., str]
) -> None:
    topic = new_topic(1)
    sent = rows(300)
    publisher = Publisher(bootstrap)
    try:
        publisher.send(topic, sent[:100])
        assert publisher.flush() == 100
        first = publisher.producer_id
        assert first >= 0 and publisher.sequences == {(topic, 0): 100}
        publisher.sequences[(topic, 0)] = 150  # a gap, as if a batch had been lost on the way
        publisher.send(topic, sent[100:200])
        with pytest.raises(PublishError, match="OutOfOrderSequence"):
            publisher.flush()
        assert (publisher.producer_id, publisher.sequences) == (-1, {})  # the session is dropped
        with pytest.raises(PublishError, match="close"):  # no later page goes out before the lost ones
            publisher.send(topic, sent[200:])
        publisher.close()
        publisher.send(topic, sent[100:200])  # the caller sends the window again, in a new session
        publisher.send(topic, sent[200:])
        assert publisher.flush() == 200
        assert publisher.producer_id not in (-1, first)
        assert publisher.sequences == {(topic, 0): 200}
    finally:
        publisher.close()
    check_topic(read_topic(bootstrap, topic), sent, 1, topic)


# --- a broker of its own, restarted mid-window -------------------------------------------------------


@pytest.fixture
def private_broker(tmp_path: Path, settings: Settings) -> Iterator[tuple[kafka.KafkaNode, str]]:
    """A single broker on free ports with a data folder of its own (never the shared stack's)."""
    private = settings.with_(data_dir=tmp_path / "stack", kafka_port=free_port_pair(), kafka_heap="256m")
    node = kafka.single_node(private)
    cluster_id = kafka.cluster_id_for(node.folder)
    node.start(cluster_id, replication=1)
    node.wait_listening()
    kafka.wait_serving(node.bootstrap)
    yield node, cluster_id
    node.managed.stop(timeout=30)


def test_a_broker_killed_and_restarted_mid_window_loses_and_doubles_nothing(
    private_broker: tuple[kafka.KafkaNode, str],
) -> None:
    node, cluster_id = private_broker
    topic = "relay.restart"
    ensure_topic(node.bootstrap, topic, 3)
    sent = rows(6000)
    publisher = Publisher(node.bootstrap, delivery_timeout_s=240)

    def restart_when_its_ports_are_free() -> None:
        deadline = time.monotonic() + 60
        while port_open(node.port) or port_open(node.controller_port):  # the killed JVM lets go
            assert time.monotonic() < deadline, "the killed broker's ports stay taken"
            time.sleep(0.1)
        node.start(cluster_id, 1)

    restart = threading.Thread(target=restart_when_its_ports_are_free)
    try:
        publisher.send(topic, sent[:2000])
        assert publisher.flush() == 2000
        session = publisher.producer_id
        publisher.send(topic, sent[2000:4000])  # in flight when the broker dies
        assert node.managed.stop(timeout=30, sig=signal.SIGKILL)
        publisher.send(topic, sent[4000:])  # sent to a dead broker
        restart.start()
        assert publisher.flush() == 4000  # resent until the broker is back
        assert publisher.resent > 0
        assert publisher.producer_id == session  # the same session: the broker dropped what it had
        assert sum(publisher.sequences.values()) == 6000
    finally:
        if restart.ident is not None:
            restart.join()
        publisher.close()
    check_topic(read_topic(node.bootstrap, topic), sent, 3, topic)


def test_a_leader_stopped_mid_window_moves_and_the_batches_follow_it(cluster: object) -> None:
    """On the 3-broker cluster (replication 3, min.insync 2): the leader of partition 0 stops between
    pages; its batches are resent to the new leader under the same session, nothing lost or doubled."""
    from kafka.structs import TopicPartition

    from deploy.stack import Stack

    stack: Stack = cluster  # type: ignore[assignment]
    bootstrap = stack.cluster_bootstrap
    topic = f"test.leader.{uuid.uuid4().hex[:8]}"
    ensure_topic(bootstrap, topic, 3, replication=3, configs={"min.insync.replicas": "2"})
    sent = rows(6000)
    publisher = Publisher(bootstrap, delivery_timeout_s=120)
    stopped: int | None = None
    try:
        publisher.send(topic, sent[:2000])
        assert publisher.flush() == 2000
        session = publisher.producer_id
        leader = publisher._client.cluster.leader_for_partition(TopicPartition(topic, 0))
        publisher.send(topic, sent[2000:4000])  # in flight while its leader goes
        stopped = int(leader)
        stack.stop_broker(stopped)
        publisher.send(topic, sent[4000:])  # to the leader that is gone
        assert publisher.flush() == 4000
        assert publisher.resent > 0, "nothing met the stopped leader"
        assert publisher.producer_id == session
        assert publisher._client.cluster.leader_for_partition(TopicPartition(topic, 0)) != stopped
    finally:
        publisher.close()
        if stopped is not None:
            stack.start_broker(stopped)
    check_topic(read_topic(bootstrap, topic), sent, 3, topic)
