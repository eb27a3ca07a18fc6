"""The faust app: one consumer group on the events topic; the agent hands batches to the Projector."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import faust
from faust.transport.drivers.aiokafka import Consumer as FaustConsumer
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage
from mode.services import WaitResults

from processors.config import ProcessorConfig
from processors.projector import Projector
from processors.records import Record, TopicPartition, from_message
from processors.take import drained_take

log = logging.getLogger(__name__)
COLLECT_INTERVAL = 600.0  # seconds between collections of uploads no document attached


def _waits_on(coro: Any, event: Any) -> bool:
    """Whether `coro` is `event.wait()`, not started yet."""
    frame = getattr(coro, "cr_frame", None)
    return frame is not None and frame.f_locals.get("self") is event


class Batch(ConsumerMessage):
    """One faust message standing for the records one fetch returned for one partition: its offset is
    the last record's, `records` are all of them. Acknowledging it acknowledges them all: faust's
    drain loop records the offsets before it as a gap, and its commit fills acknowledged gaps in."""

    __slots__ = ("records",)

    def __init__(self, tp: TP, records: list[Record], generation_id: int) -> None:
        last = records[-1]
        super().__init__(
            tp.topic, tp.partition, last.offset, 0.0, 0, None, None, None, None, 0, 0, tp,
            generation_id=generation_id,
        )  # fmt: skip
        self.records = records


def records_of(message: Message) -> Sequence[Record]:
    """The records a message delivered to the agent stands for (a `Batch`, or one)."""
    if isinstance(message, Batch):
        return message.records
    return (from_message(message),)


class Consumer(FaustConsumer):
    """faust's aiokafka consumer, with batches per partition for the topics in `batched`, and less two
    tasks per message.

    faust turns every fetched record into a message, an event in the agent's channel and stream, with
    sensors, flow control and an acknowledgement each: about a third of the worker's CPU per event
    (py-spy under the projection benchmark). The projector takes records a batch at a time and stores
    its offsets itself, so for its topic one `Batch` message per partition and fetch goes that way
    instead (same group membership, rebalances, seeks, flow control and commits: faust's). faust also
    hands every message to the channels as `wait_first(callback(message), suspend_flow.wait())`: four
    tasks, an `asyncio.wait` and three cancellations per message. Only `stop_flow` (shutdown) sets
    `suspend_flow`, so while it is clear the callback is awaited directly, as that `wait_first` would
    have; otherwise faust's own way."""

    batched: ClassVar[frozenset[str]] = frozenset()

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:  # noqa: ASYNC109 (faust's)
        """faust's `getmany` (the same checks), yielding a `Batch` per partition of a batched topic."""
        if not self.batched:
            async for item in super().getmany(timeout):
                yield item
            return
        records, active = await self._wait_next_records(timeout)
        generation = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        if not self.flow_active:  # as faust: back to the committed offsets (then ours: reposition)
            try:
                await self.perform_seek()
            except Exception as exc:
                self.log.warning(f"exception performing seek when flow not active {exc}")
            return
        for tp, fetched in records.items():
            if not self.flow_active or self.app.consumer_generation_id != generation:
                break
            if not fetched or not (active is None or tp in active or tp in self._buffered_partitions):
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            if tp.topic in self.batched:
                yield tp, Batch(tp, [from_message(r) for r in fetched], generation)
            else:
                for record in fetched:
                    yield tp, self._to_message(tp, record)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:  # noqa: ASYNC109 (mode's signature)
        if (
            len(coros) == 2
            and timeout is None
            and not self.suspend_flow.is_set()
            and _waits_on(coros[1], self.suspend_flow)
        ):
            coros[1].close()
            result = await coros[0]
            return WaitResults([coros[0]], [result], False)
        return await super().wait_first(*coros, timeout=timeout)


def _datadir(config: ProcessorConfig) -> dict[str, Any]:
    """faust's folder under the stack's data folder, not beside wherever the worker was started."""
    if not config.datadir:
        return {}
    Path(config.datadir).parent.mkdir(parents=True, exist_ok=True)
    return {"datadir": config.datadir}


def create_app(config: ProcessorConfig) -> tuple[faust.App, Projector]:
    brokers = ";".join(config.bootstrap.split(","))
    app = faust.App(
        config.group,
        broker=f"kafka://{brokers}",
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        web_enabled=False,
        topic_disable_leader=True,  # no leader topic: auto topic creation is off, and nothing needs one
        consumer_auto_offset_reset="earliest",
        consumer_group_instance_id=config.instance_id,
        broker_session_timeout=config.session_timeout,
        broker_heartbeat_interval=min(3.0, config.session_timeout / 4),
        broker_rebalance_timeout=max(10.0, config.session_timeout * 2),
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        **_datadir(config),
    )
    app.transport.Consumer = type("Consumer", (Consumer,), {"batched": frozenset({config.topic})})  # type: ignore[misc]
    topic = app.topic(config.topic, key_serializer="raw", value_serializer="raw")

    async def seek(tp: TopicPartition, offset: int) -> None:
        await app.consumer.seek_wait({TP(tp[0], tp[1]): offset})

    projector = Projector(config, seek=seek)

    @app.agent(topic, name="read_models")
    async def project(stream: Any) -> None:
        # Hand batches to the writer and go straight back to buffering (faust's take does not buffer
        # while its body runs); the writer acks events once committed, so faust's committed offsets
        # stay behind the stored ones; on assignment those win in any case (see reposition).
        # Each event is a `Batch` of one partition's fetched records (see Consumer), so what `take`
        # gathers goes to the writer in parts of at most `config.batch` records; an event is
        # acknowledged with the part that holds its last record.
        # Each lane (see Projector) gets its partitions' part.
        # Events fetched in an earlier generation of the group are left (see Projector.on_assigned).
        lanes = len(projector.queues)
        async for events in drained_take(stream, config.batch, config.within):
            records: list[list[Record]] = [[] for _ in range(lanes)]
            acks: list[list[Any]] = [[] for _ in range(lanes)]
            generations: list[int | None] = [None] * lanes
            for event in events:
                generation = getattr(event.message, "generation_id", None)
                if not projector.current(generation):
                    continue
                lane = projector.lane(event.message.partition)
                if records[lane] and generations[lane] != generation:
                    await projector.submit(records[lane], acks[lane], lane, generations[lane])
                    records[lane], acks[lane] = [], []
                generations[lane] = generation
                for record in records_of(event.message):
                    if len(records[lane]) >= config.batch:
                        await projector.submit(records[lane], acks[lane], lane, generation)
                        records[lane], acks[lane] = [], []
                    records[lane].append(record)
                acks[lane].append(event)
            for lane in range(lanes):
                if records[lane] or acks[lane]:
                    await projector.submit(records[lane], acks[lane], lane, generations[lane])

    @app.task  # type: ignore[untyped-decorator]
    async def writer() -> None:
        await projector.run_writers()

    async def reposition() -> None:
        # faust positions partitions at the group's committed offsets (after every rebalance, and when
        # it finds its flow stopped); those can be past records never applied. Stored offsets win.
        ours = [tp for tp in app.consumer.assignment() if tp.topic == config.topic]
        stored = await projector.stored_offsets(config.topic)
        targets = {tp: stored.get(tp.partition, -1) + 1 for tp in ours}
        if targets:
            await app.consumer.seek_wait(targets)
            log.info(
                "positioned at the stored offsets + 1: %s",
                sorted((t.partition, o) for t, o in targets.items()),
            )

    async def assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        tps = [(tp.topic, tp.partition) for tp in (args[0] if args else ())]
        log.info("assigned %s", sorted(tps))
        projector.on_assigned(tps, app.consumer_generation_id)
        consumer = app.consumer
        if not getattr(consumer, "_vanthu_positions", False):
            faust_seek = consumer.perform_seek

            async def perform_seek() -> None:
                await faust_seek()
                await reposition()

            consumer.perform_seek = perform_seek  # type: ignore[method-assign]
            consumer._vanthu_positions = True  # type: ignore[attr-defined]

    app.on_partitions_assigned.connect(assigned)

    @app.task  # type: ignore[untyped-decorator]
    async def saga_runner() -> None:
        await projector.run_saga()

    @app.timer(interval=config.chase_interval)  # type: ignore[untyped-decorator]
    async def deadline_chaser() -> None:
        await projector.chase()

    @app.timer(interval=COLLECT_INTERVAL)  # type: ignore[untyped-decorator]
    async def file_collector() -> None:
        await projector.collect_files()

    return app, projector
