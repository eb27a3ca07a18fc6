"""The projector's lanes: the agent hands each lane its partitions' records, and waits for room in the
queues only while every lane has work (no database or broker: nothing here is written, only queued)."""

from __future__ import annotations

import asyncio
from typing import Any

from deploy.config.offices import Offices
from processors.config import ProcessorConfig
from processors.projector import PARTS_PER_LANE, Projector
from processors.records import Record


def _projector(lanes: int = 2) -> Projector:
    config = ProcessorConfig(dsn="", write_dsn="", bootstrap="", topic="t", offices=Offices({}), lanes=lanes)
    return Projector(config)


def _part(partition: int, offset: int) -> list[Record]:
    return [Record("t", partition, offset, None, b"{}")]


async def _settled(task: asyncio.Task[Any]) -> bool:
    """Whether `task` finishes once the event loop has run everything ready (no clock involved)."""
    for _ in range(50):
        if task.done():
            return True
        await asyncio.sleep(0)
    return task.done()


async def test_a_full_lane_does_not_hold_back_a_dry_one() -> None:
    # Lane 0's writer is slow (nothing takes its parts here) and lane 1's has run dry: the agent, holding
    # more of lane 0's records, hands them over and goes on to fetch lane 1's instead of waiting for
    # lane 0 (with a bound per lane it waited, and lane 1 starved).
    projector = _projector()
    for offset in range(PARTS_PER_LANE * 2):
        submitted = asyncio.create_task(projector.submit(_part(0, offset), [], lane=0))
        assert await _settled(submitted), f"part {offset} of lane 0 waited while lane 1 had nothing"
    assert projector.queues[0].qsize() == PARTS_PER_LANE * 2
    assert projector.queues[1].empty()


async def test_the_agent_waits_while_every_lane_has_work() -> None:
    projector = _projector()
    for offset in range(PARTS_PER_LANE * 2 - 1):  # lane 1 has nothing: no wait
        assert await _settled(asyncio.create_task(projector.submit(_part(0, offset), [], lane=0)))
    last = asyncio.create_task(projector.submit(_part(1, 0), [], lane=1))  # both lanes have work now
    assert not await _settled(last), "the queues hold their bound: the agent waits"
    records, _, _ = await projector.take(0)  # lane 0's writer takes its next batch: room again
    assert [r.offset for r in records] == list(range(PARTS_PER_LANE * 2 - 1))  # merged, in order
    assert await _settled(last)
    assert projector.queues[1].qsize() == 1


async def test_parts_fetched_before_a_rebalance_are_dropped_not_applied() -> None:
    # After a rebalance the consumer is positioned at the stored offsets again, and partitions given to
    # another worker are that worker's: what this worker fetched before is not applied (session 9: the
    # worker that joined first spent seconds applying, against the other's offsets locks, records of
    # partitions it had lost).
    projector = _projector()
    projector.on_assigned([("t", p) for p in range(6)], generation=1)
    await projector.submit(_part(0, 0), ["ack-0"], lane=0, generation=1)
    await projector.submit(_part(1, 0), ["ack-1"], lane=1, generation=1)
    await projector.submit(_part(2, 0), ["ack-2"], lane=0, generation=1)
    projector.on_assigned([("t", 0), ("t", 1)], generation=2)
    assert all(q.empty() for q in projector.queues), "queued parts of generation 1 are dropped"
    await projector.submit(_part(0, 1), ["late"], lane=0, generation=1)  # the agent's, from before
    assert projector.queues[0].empty(), "a part of generation 1 handed over late is not queued"
    await projector.submit(_part(0, 0), ["ack-new"], lane=0, generation=2)
    records, _, acks = await projector.take(0)
    assert [(r.partition, r.offset) for r in records] == [(0, 0)] and acks == ["ack-new"]


async def test_a_writer_skips_a_part_whose_generation_ended_while_it_was_queued() -> None:
    projector = _projector(lanes=1)
    projector.on_assigned([("t", 0)], generation=1)
    await projector.submit(_part(0, 0), [], lane=0, generation=1)
    await projector.submit(_part(0, 1), [], lane=0, generation=1)
    projector.generation = 2  # as on_assigned sets it; the queue not yet cleared
    waiting = asyncio.create_task(projector.take(0))
    assert not await _settled(waiting), "nothing of generation 2 queued yet: the writer waits"
    await projector.submit(_part(0, 0), [], lane=0, generation=2)
    records, _, _ = await waiting
    assert [(r.partition, r.offset) for r in records] == [(0, 0)]
    assert projector.queues[0].empty()
