"""Stored events as Kafka records: key = document id, value = the canonical bytes, verbatim; headers say
the type, schema version and position, and on a keyed command's last event its idempotency record.

Two ways out: `make_producer` (kafka-python's KafkaProducer, record by record; republish and the witness)
and `Publisher` (the relay: whole pages as one record batch per partition, sent as ProduceRequests
through kafka-python's network client with the idempotent producer's protocol kept by hand)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from producers.records import BatchBuilder, headers_prefix, murmur2, next_sequence, sized

log = logging.getLogger("vanthu.publishing")

# What the relay and republish read for each event, in position order.
SELECT_EVENT = (
    "e.position, e.stream_id, e.type, e.schema_version, e.body, "
    "(SELECT json_build_object('key', k.key, 'request_hash', encode(k.request_hash, 'hex'), "
    "'version', k.version, 'warnings', k.warnings)::text FROM idempotency_keys k "
    "WHERE k.position = e.position) AS idempotency"
)


def _partitioner() -> Any:
    from kafka.partitioner.abc import Partitioner
    from kafka.partitioner.default import DefaultPartitioner, murmur2

    class KeyedPartitioner(Partitioner):  # type: ignore[misc]
        """Kafka's default choice for a keyed record (murmur2 of the key, as the Java client), kept per
        key: a document's events share the key, and the pure-Python hash was an eighth of the relay's
        time. Records without a key go the default way."""

        def __init__(self) -> None:
            self.default = DefaultPartitioner()
            self.chosen: dict[tuple[str, bytes, int], int] = {}

        def partition(
            self,
            topic: str,
            key: Any,
            serialized_key: bytes | None,
            value: Any,
            serialized_value: Any,
            cluster: Any,
        ) -> int:
            if serialized_key is None:
                return int(
                    self.default.partition(topic, key, serialized_key, value, serialized_value, cluster)
                )
            partitions = cluster.partitions_for_topic(topic)
            if not partitions:
                return int(
                    self.default.partition(topic, key, serialized_key, value, serialized_value, cluster)
                )
            known = (topic, serialized_key, len(partitions))
            chosen = self.chosen.get(known)
            if chosen is None:
                chosen = sorted(partitions)[(murmur2(serialized_key) & 0x7FFFFFFF) % len(partitions)]
                if len(self.chosen) >= 100_000:
                    self.chosen.clear()
                self.chosen[known] = chosen
            return chosen

    return KeyedPartitioner()


def make_producer(bootstrap: str, client_id: str = "vanthu-relay") -> Any:
    """kafka-python producer: acks=all and idempotent, so up to five requests may be in flight per broker
    and a retry still never reorders (the broker refuses a batch whose sequence number is out of turn).
    Batches are lz4-compressed; record CRCs come from the `crc32c` C module (kafka-python falls back to
    pure Python without it, which cost the relay most of its time)."""
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        max_in_flight_requests_per_connection=5,
        compression_type="lz4",
        partitioner=_partitioner(),
        linger_ms=5,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
        max_block_ms=15000,
        request_timeout_ms=15000,
        delivery_timeout_ms=60000,
        retry_backoff_ms=200,
    )


def headers(row: asyncpg.Record) -> list[tuple[str, bytes]]:
    out = [
        ("type", row["type"].encode()),
        ("schema_version", str(row["schema_version"]).encode()),
        ("position", str(row["position"]).encode()),
    ]
    if row["idempotency"] is not None:
        out.append(("idempotency", row["idempotency"].encode()))
    return out


def send(producer: Any, topic: str, rows: Sequence[asyncpg.Record]) -> list[Any]:
    """Hand `rows` to the producer in order; their futures (call from one thread only, to keep order)."""
    return [
        producer.send(topic, key=r["stream_id"].encode(), value=bytes(r["body"]), headers=headers(r))
        for r in rows
    ]


def acknowledged(producer: Any, futures: Sequence[Any], timeout_s: float = 60.0) -> None:
    """Wait until Kafka acknowledged every record sent (raises if any failed)."""
    producer.flush(timeout=timeout_s)
    for future in futures:
        future.get(timeout=timeout_s)


def publish(producer: Any, topic: str, rows: Sequence[asyncpg.Record], timeout_s: float = 60.0) -> None:
    """Send `rows` in order and wait until Kafka acknowledged every one (raises if any failed)."""
    acknowledged(producer, send(producer, topic, rows), timeout_s)


# --- the relay's publisher: record batches built here, ProduceRequests through kafka-python's client ---

_POSITION = sized(b"position")
_IDEMPOTENCY = sized(b"idempotency")
_DUPLICATE_SEQUENCE = 46  # the broker already has this batch (a retry of one it appended): success


class PublishError(Exception):
    """Kafka did not take every record sent since the last flush. The publisher has dropped its idempotent
    session (its next send starts a new one: new producer id, sequences from 0); send them again."""


@dataclass(slots=True)
class _Batch:
    order: tuple[int, int]  # (page, part): a partition's batches reach Kafka in this order
    topic: str
    partition: int
    base_sequence: int
    count: int
    data: bytes
    error: BaseException | None = None


@dataclass(slots=True)
class _Request:
    node: int
    batches: list[_Batch]
    future: Any


@dataclass
class Publisher:
    """Publishes pages of events (rows of SELECT_EVENT, in position order) as an idempotent producer.

    Each page becomes one v2 record batch per partition (the partition Kafka's default partitioner picks
    for the document id), each numbered from that partition's sequence counter, and one ProduceRequest
    (acks=all) per leader; `send` returns once the requests are written, so pages pipeline. `flush` waits
    for every answer. A retriable failure (connection lost, leader moved, timeout, not enough replicas; or
    an out-of-order sequence behind such a failure) is resent in the original order with the same
    producer id and sequence numbers, so the broker appends what it lacks and drops what it has; anything
    else, or no success within `delivery_timeout_s`, raises PublishError after dropping the session; it
    then refuses to send until close(), so that no later page overtakes the lost ones in a new session
    (the caller starts the window over). At most 5 unflushed pages per partition (the broker remembers
    the last 5 batches of a producer)."""

    bootstrap: str
    client_id: str = "vanthu-relay"
    request_timeout_s: float = 15.0
    delivery_timeout_s: float = 60.0
    retry_backoff_s: float = 0.2
    max_batch_bytes: int = 900 * 1024  # below the broker's default message.max.bytes, even uncompressed
    compress: bool = True
    producer_id: int = -1
    producer_epoch: int = -1
    sequences: dict[tuple[str, int], int] = field(default_factory=dict)  # next sequence per partition
    resent: int = 0  # batches sent again after a retriable failure (over the publisher's life)
    _client: Any = None
    _pending: list[_Request] = field(default_factory=list)
    _pages: int = 0
    _failed: BaseException | None = None  # set when a send or flush failed, until close()
    _keys: dict[str, tuple[tuple[int, ...], dict[str, tuple[int, bytes]]]] = field(default_factory=dict)
    _heads: dict[tuple[str, int, bool], bytes] = field(default_factory=dict)

    # -- session ------------------------------------------------------------------------------------

    def _connect(self) -> None:
        import kafka.errors as errors
        from kafka.net.compat import KafkaNetClient
        from kafka.protocol.producer import InitProducerIdRequest

        timeout_ms = int(self.request_timeout_s * 1000)
        client = KafkaNetClient(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            request_timeout_ms=timeout_ms,
            max_in_flight_requests_per_connection=5,
            reconnect_backoff_ms=50,
            reconnect_backoff_max_ms=1000,
        )
        deadline = time.monotonic() + self.delivery_timeout_s
        try:
            client._manager.bootstrap(timeout_ms)
            while True:  # a cluster just started answers "coordinator loading" for a while
                node = client.least_loaded_node(bootstrap_fallback=True)
                request = InitProducerIdRequest(
                    transactional_id=None,
                    transaction_timeout_ms=60000,
                    producer_id=-1,
                    producer_epoch=-1,
                    min_version=0,
                    max_version=4,
                )
                response = client.send_and_receive(node, request, timeout_ms=timeout_ms)
                error = errors.for_code(response.error_code)
                if error is errors.NoError:
                    break
                if not issubclass(error, errors.RetriableError) or time.monotonic() > deadline:
                    raise error(f"InitProducerId: {error.__name__}")
                log.info("publisher: InitProducerId: %s; asking again", error.__name__)
                time.sleep(self.retry_backoff_s)
        except BaseException:
            client.close()
            raise
        self._client = client
        self.producer_id, self.producer_epoch = response.producer_id, response.producer_epoch
        self.sequences = {}
        self._pending = []
        log.info("publisher: idempotent session %d/%d", self.producer_id, self.producer_epoch)

    def close(self) -> None:
        """Drop the session (anything unflushed is abandoned: its window is sent again by the caller).
        The next send starts a new one."""
        self._failed = None
        self._drop()

    def _fail(self, exc: BaseException) -> None:
        """A send or flush failed: drop the session and refuse to send until close(). A new session
        numbers from 0 and the broker would take a later page before the lost ones were sent again, so
        the caller must start over from the window's beginning (close, then send it all again)."""
        self._drop()
        self._failed = exc

    def _drop(self) -> None:
        client, self._client = self._client, None
        self._pending = []
        self.sequences = {}
        self.producer_id = self.producer_epoch = -1
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # closing a broken connection may complain; it is gone either way
                log.debug("publisher: close: %s", exc)

    # -- metadata -----------------------------------------------------------------------------------

    def _layout(self, topic: str, refresh: bool = False) -> tuple[tuple[int, ...], dict[int, int]]:
        """The topic's partitions (sorted) and each one's leader, asking the cluster until all are known."""
        from kafka.structs import TopicPartition

        client = self._client
        cluster = client.cluster
        deadline = time.monotonic() + self.delivery_timeout_s
        while True:
            if not refresh:
                parts = cluster.partitions_for_topic(topic)
                if parts:
                    leaders = {p: cluster.leader_for_partition(TopicPartition(topic, p)) for p in parts}
                    if all(leader is not None and leader >= 0 for leader in leaders.values()):
                        return tuple(sorted(parts)), leaders
            if time.monotonic() > deadline:
                raise PublishError(f"no leader known for every partition of {topic}")
            cluster.add_topic(topic)
            update = cluster.request_update()
            client.poll(timeout_ms=int(self.request_timeout_s * 1000), future=update)
            if not refresh:
                time.sleep(self.retry_backoff_s)
            refresh = False

    def _keyed(self, topic: str, partitions: tuple[int, ...]) -> dict[str, tuple[int, bytes]]:
        """Per document id: its partition (murmur2, as Kafka's default) and its key as encoded."""
        known = self._keys.get(topic)
        if known is None or known[0] != partitions or len(known[1]) > 200_000:
            known = self._keys[topic] = (partitions, {})
        return known[1]

    # -- sending ------------------------------------------------------------------------------------

    def send(self, topic: str, rows: Sequence[Sequence[Any]]) -> None:
        """Build and send one page: `rows` are (position, stream_id, type, schema_version, body,
        idempotency) in position order (SELECT_EVENT's columns). Call from one thread only."""
        if self._failed is not None:
            raise PublishError(f"an earlier send or flush failed ({self._failed!r}); close() first")
        try:
            self._send(topic, rows)
        except BaseException as exc:
            self._fail(exc)
            raise

    def _send(self, topic: str, rows: Sequence[Sequence[Any]]) -> None:
        if self._client is None:
            self._connect()
        partitions, leaders = self._layout(topic)
        keys = self._keyed(topic, partitions)
        heads = self._heads
        count = len(partitions)
        limit = self.max_batch_bytes
        chunks: dict[int, list[BatchBuilder]] = {}
        for position, stream_id, type_, schema_version, body, idempotency in rows:
            known = keys.get(stream_id)
            if known is None:
                key = stream_id.encode()
                known = keys[stream_id] = (partitions[(murmur2(key) & 0x7FFFFFFF) % count], sized(key))
            partition, key = known
            head = heads.get((type_, schema_version, idempotency is not None))
            if head is None:
                pairs = [("type", type_.encode()), ("schema_version", str(schema_version).encode())]
                head = headers_prefix(pairs, 3 if idempotency is None else 4)
                heads[(type_, schema_version, idempotency is not None)] = head
            head += _POSITION + sized(b"%d" % position)
            if idempotency is not None:
                head += _IDEMPOTENCY + sized(idempotency.encode())
            builders = chunks.get(partition)
            if builders is None:
                builder = BatchBuilder()
                chunks[partition] = [builder]
            else:
                builder = builders[-1]
                if builder.count and builder.size + len(body) > limit:
                    builder = BatchBuilder()
                    builders.append(builder)
            builder.append(key, body, head)
        page = self._pages
        self._pages += 1
        now_ms = int(time.time() * 1000)
        batches: list[_Batch] = []
        for partition, builders in chunks.items():
            tp = (topic, partition)
            for part, builder in enumerate(builders):
                sequence = self.sequences.get(tp, 0)
                data = builder.build(self.producer_id, self.producer_epoch, sequence, now_ms, self.compress)
                batches.append(_Batch((page, part), topic, partition, sequence, builder.count, data))
                self.sequences[tp] = next_sequence(sequence, builder.count)
        self._dispatch(batches, {topic: leaders})
        self._client.poll(timeout_ms=0)  # write them out now

    def _dispatch(self, batches: list[_Batch], leaders: dict[str, dict[int, int]]) -> None:
        """One ProduceRequest per (page, part) and leader, in that order: requests to one broker travel
        one connection in order, so each partition's batches arrive in sequence order."""
        by_order: dict[tuple[int, int], dict[int, list[_Batch]]] = {}
        for b in sorted(batches, key=lambda b: b.order):
            node = leaders[b.topic][b.partition]
            by_order.setdefault(b.order, {}).setdefault(node, []).append(b)
        for nodes in by_order.values():
            for node, group in nodes.items():
                self._request(node, group)

    def _request(self, node: int, batches: list[_Batch]) -> None:
        import kafka.errors as errors
        from kafka.future import Future
        from kafka.protocol.producer import ProduceRequest

        topic_cls = ProduceRequest.TopicProduceData
        partition_cls = topic_cls.PartitionProduceData
        by_topic: dict[str, list[Any]] = {}
        for b in batches:
            by_topic.setdefault(b.topic, []).append(partition_cls(index=b.partition, records=b.data))
        request = ProduceRequest(
            transactional_id=None,
            acks=-1,
            timeout_ms=int(self.request_timeout_s * 1000),
            topic_data=[topic_cls(name=t, partition_data=p) for t, p in by_topic.items()],
            min_version=3,
            max_version=9,
        )
        future: Any
        try:
            self._wait_ready(node)
        except errors.KafkaError as exc:
            future = Future().failure(exc)  # not sent: resent by flush, in order
        else:
            future = self._client.send(node, request)
        self._pending.append(_Request(node, batches, future))

    def _wait_ready(self, node: int) -> None:
        """Until the connection to `node` takes a request: connected, and fewer than five in flight
        (answers are read meanwhile). Raises a (retriable) KafkaConnectionError if it cannot connect."""
        import kafka.errors as errors

        client = self._client
        deadline = time.monotonic() + self.request_timeout_s
        while not client.is_ready(node):
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                raise errors.KafkaConnectionError(f"broker {node} not ready")
            if client.connected(node):  # paused with five requests in flight
                client.poll(timeout_ms=remaining_ms)
            else:
                client.await_ready(node, timeout_ms=remaining_ms)

    # -- acknowledgements ---------------------------------------------------------------------------

    def flush(self) -> int:
        """Wait until Kafka acknowledged (acks=all) every batch sent since the last flush, resending
        retriable failures; returns the number of records. Raises PublishError (session dropped) if some
        were not acknowledged within `delivery_timeout_s` or failed for good."""
        if self._failed is not None:
            raise PublishError(f"an earlier send or flush failed ({self._failed!r}); close() first")
        try:
            return self._flush()
        except BaseException as exc:
            self._fail(exc)
            raise

    def _flush(self) -> int:
        deadline = time.monotonic() + self.delivery_timeout_s
        records = sum(b.count for r in self._pending for b in r.batches)
        attempt = 0
        while self._pending:
            self._await(deadline)
            failed = self._failures()
            self._pending = []
            if not failed:
                break
            self._check_retriable(failed, deadline)
            attempt += 1
            self.resent += len(failed)
            first = failed[0]
            log.warning(
                "publisher: %d batches to resend (attempt %d), e.g. %s[%d] from sequence %d: %s",
                len(failed),
                attempt,
                first.topic,
                first.partition,
                first.base_sequence,
                type(first.error).__name__,
            )
            time.sleep(min(self.retry_backoff_s * attempt, 2.0))
            leaders = {t: self._layout(t, refresh=True)[1] for t in {b.topic for b in failed}}
            self._dispatch(failed, leaders)
        return records

    def _await(self, deadline: float) -> None:
        client = self._client
        for r in self._pending:
            if not r.future.is_done:
                client.poll(timeout_ms=max(0, int((deadline - time.monotonic()) * 1000)), future=r.future)
            if not r.future.is_done:
                raise PublishError(f"no answer from broker {r.node} within {self.delivery_timeout_s:.0f}s")

    def _failures(self) -> list[_Batch]:
        import kafka.errors as errors

        failed: list[_Batch] = []
        for r in self._pending:
            if r.future.failed():
                for b in r.batches:
                    b.error = r.future.exception
                    failed.append(b)
                continue
            answers = {
                (t.name, p.index): (p.error_code, p.error_message)
                for t in r.future.value.responses
                for p in t.partition_responses
            }
            for b in r.batches:
                code, message = answers.get((b.topic, b.partition), (-1, "no answer for this partition"))
                if code in (0, _DUPLICATE_SEQUENCE):
                    b.error = None
                    continue
                b.error = errors.for_code(code)(message)
                failed.append(b)
        return failed

    def _check_retriable(self, failed: list[_Batch], deadline: float) -> None:
        """Raise unless every failure may be resent under the same sequence numbers: retriable errors, and
        out-of-order sequences behind an earlier retriable failure of the same partition."""
        import kafka.errors as errors

        earliest: dict[tuple[str, int], tuple[int, int]] = {}
        for b in failed:
            if isinstance(b.error, errors.RetriableError):
                tp = (b.topic, b.partition)
                earliest[tp] = min(earliest.get(tp, b.order), b.order)
        for b in failed:
            if isinstance(b.error, errors.RetriableError):
                continue
            behind = earliest.get((b.topic, b.partition))
            if isinstance(b.error, errors.OutOfOrderSequenceNumberError) and behind and behind < b.order:
                continue
            raise PublishError(
                f"{b.topic}[{b.partition}] from sequence {b.base_sequence}: "
                f"{type(b.error).__name__}: {b.error}"
            ) from b.error
        if time.monotonic() > deadline:
            first = failed[0]
            raise PublishError(
                f"not acknowledged within {self.delivery_timeout_s:.0f}s: {first.topic}[{first.partition}]: "
                f"{type(first.error).__name__}: {first.error}"
            ) from first.error
