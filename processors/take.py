"""The agent's batches: faust's `noack_take`, handed over as soon as the fetched records are all in.

faust's take waits for its buffer to fill (`max_`) or for `within` to pass, in a loop that wakes every
`within` whether anything came or not: a record arriving at a random moment waited half the window on
average (2.5 ms of the freshness benchmark's median at 5 ms) though nothing more was on its way. The
consumer puts everything one fetch returned into the stream's queue at once (faust's conductor,
`put_nowait`), so when the queue is empty after a record, the buffer holds all that has arrived: this
take hands it over then. Under load a fetch brings many records and the buffer still fills to `max_`
(or the writer, busy with a transaction, merges the batches queued meanwhile: `Projector.run_writer`);
`within` stays the longest a record waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from mode.utils.aiter import aiter
from mode.utils.futures import notify


async def drained_take(stream: Any, max_: int, within: float) -> AsyncIterator[list[Any]]:
    """Lists of the stream's events (not acknowledged: the caller acks them once applied), each handed
    over when `max_` are buffered, when the stream's queue is empty, or `within` seconds at most."""
    buffer: list[Any] = []
    ready = asyncio.Event()  # the buffer is full, or holds everything that has arrived
    consumed = asyncio.Event()
    consuming: asyncio.Future[Any] | None = None
    channel = aiter(stream.channel)
    queue = getattr(channel, "queue", None)

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:  # the caller is working on the last list: wait for it
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("take: the stream has no current event")
            buffer.append(event)
            if len(buffer) >= max_:
                ready.set()
                consumed.clear()
                await stream.wait(consumed)  # never more than max_ in one list
            elif queue is not None and queue.empty():
                ready.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to take buffer: %r", exc)
            await stream.crash(exc)
        return value

    acks = stream.enable_acks
    stream.enable_acks = False  # the caller acknowledges
    stream.add_processor(add_to_buffer)
    stream._enable_passive(channel)
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(ready, timeout=within)
            if buffer:
                consuming = asyncio.get_running_loop().create_future()
                try:
                    yield list(buffer)
                finally:
                    buffer.clear()
                    notify(consuming)
                    ready.clear()
                    consumed.set()
    finally:
        stream.enable_acks = acks
        stream._processors.remove(add_to_buffer)
