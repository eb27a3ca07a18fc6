"""A small HTTP load generator on asyncio + aiohttp: closed loop (N clients) or open loop (fixed rate).

Open-loop latency is measured from when a request was due, not when it was sent, so a server that falls
behind is charged for the queue it builds (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# One request: given the session and a client index (closed) or sequence number (open), do one call and
# return its HTTP status.
Call = Callable[[aiohttp.ClientSession, int], Awaitable[int]]


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    late: int = 0  # open loop: requests that could not even be started on time (in-flight bound hit)
    not_sent: int = 0  # open loop: requests given up because the server was too far behind

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def session(limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


async def closed_loop(call: Call, clients: int, duration: float, warmup: float = 1.0) -> Run:
    """`clients` concurrent clients, each sending its next request when the previous one answered."""
    run = Run()
    async with session(clients) as http:
        measuring = False
        start = time.monotonic()
        end = start + warmup + duration

        async def client(i: int) -> None:
            while (now := time.monotonic()) < end:
                try:
                    status = await call(http, i)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    if measuring:
                        run.errors[type(exc).__name__] += 1
                    continue
                if measuring:
                    run.latencies.append(time.monotonic() - now)
                    run.statuses[status] += 1

        tasks = [asyncio.create_task(client(i)) for i in range(clients)]
        await asyncio.sleep(warmup)
        measuring = True
        t0 = time.monotonic()
        await asyncio.gather(*tasks)
        run.seconds = time.monotonic() - t0
    return run


async def open_loop(
    call: Call, rate: float, duration: float, max_in_flight: int = 256, give_up_after: float = 10.0
) -> Run:
    """Requests due at a steady `rate` for `duration` seconds, at most `max_in_flight` at once; a request
    that cannot start within `give_up_after` seconds of when it was due is not sent (counted)."""
    run = Run()
    slots = asyncio.Semaphore(max_in_flight)
    async with session(max_in_flight) as http:
        t0 = time.monotonic()
        total = int(rate * duration)
        pending: set[asyncio.Task[None]] = set()

        async def one(n: int, due: float) -> None:
            try:
                status = await call(http, n)
            except (aiohttp.ClientError, TimeoutError) as exc:
                run.errors[type(exc).__name__] += 1
            else:
                run.latencies.append(time.monotonic() - due)
                run.statuses[status] += 1
            finally:
                slots.release()

        for n in range(total):
            due = t0 + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if slots.locked():
                run.late += 1
            await slots.acquire()
            if time.monotonic() - due > give_up_after:
                slots.release()
                run.not_sent = total - n
                break
            task = asyncio.create_task(one(n, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)
        run.seconds = max(duration, time.monotonic() - t0)
    return run


def summary(run: Run) -> dict[str, Any]:
    from tests.bench.common import latency_ms

    return {
        "ok": run.ok,
        "rate_per_s": round(run.rate, 1),
        "seconds": round(run.seconds, 1),
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "errors": dict(run.errors),
        **latency_ms(run.latencies),
    }
