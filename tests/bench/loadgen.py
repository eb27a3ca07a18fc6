"""A small HTTP load generator on asyncio: closed loop (N clients) or open loop (fixed rate), with aiohttp
or with `Http1`, a lean keep-alive HTTP/1.1 client for GETs.

Open-loop latency is measured from when a request was due, not when it was sent, so a server that falls
behind is charged for the queue it builds (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

# One request: given the client (an aiohttp session, or what `client` made) and a client index (closed) or
# sequence number (open), do one call and return its HTTP status.
Call = Callable[[Any, int], Awaitable[int]]
# Makes the client the calls share, given how many requests may be in flight at once (an async context).
Client = Callable[[int], Any]


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    late: int = 0  # open loop: requests that could not even be started on time (in-flight bound hit)
    not_sent: int = 0  # open loop: requests given up because the server was too far behind
    gc_collections: int = 0  # the generator's own collections during the run
    gc_max_ms: float = 0.0  # and the longest of them (a pause delays requests as a slow server would)

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


def session(limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, force_close=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer read by Content-Length."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.head_end = -1  # where the body of the answer being read starts (-1: head not read yet)
        self.end = 0
        self.status = 0
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.head_end < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            at = head.find(b"\r\ncontent-length:")
            if not head.startswith(b"http/1.1 ") or at < 0:
                self._fail(aiohttp.ClientError(f"an answer this client cannot read: {head[:200]!r}"))
                return
            stop = head.find(b"\r\n", at + 2)
            self.status = int(head[9:12])
            self.head_end = end + 4
            self.end = self.head_end + int(head[at + 17 : stop if stop > 0 else len(head)])
            self.reusable = b"\r\nconnection: close" not in head
        if len(self.buffer) >= self.end and self.waiter is not None:
            body = bytes(self.buffer[self.head_end : self.end])
            del self.buffer[: self.end]
            self.head_end = -1
            waiter, self.waiter = self.waiter, None
            if not waiter.done():
                waiter.set_result((self.status, body))

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(aiohttp.ServerDisconnectedError())

    async def request(self, raw: bytes, seconds: float) -> tuple[int, bytes]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.transport.write(raw)
        # a timer rather than asyncio.wait_for, which runs each request as a task of its own
        timer = loop.call_later(seconds, self._fail, TimeoutError(f"no answer within {seconds} s"))
        try:
            return await self.waiter
        finally:
            timer.cancel()


def prepare_get(url: str, headers: dict[str, str] | None = None) -> bytes:
    """The bytes of a GET of `url` (its path and query) for `Http1.get`."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Accept: */*"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Http1:
    """GETs over keep-alive HTTP/1.1 connections to one server, each request's bytes built once
    (`prepare_get`) and each answer read by its Content-Length: about a tenth of aiohttp's CPU per request.
    Pinned to one core beside PostgreSQL, aiohttp's ≈0.6 ms a request (tests/bench queries at 300/s)
    would have made the generator, not the API, the limit near 1,000 requests/s. Answers must carry
    Content-Length (the API's JSON answers do); anything else fails the request (a ClientError)."""

    def __init__(self, base_url: str, limit: int, timeout: float = 30.0) -> None:
        url = urlsplit(base_url)
        self.timeout = timeout
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.authority = url.netloc
        self.limit = limit
        self.idle: list[_Connection] = []

    async def get(self, raw: bytes) -> tuple[int, bytes]:
        """Send prepared request bytes; the answer's status and body."""
        conn = None
        while self.idle:  # the server may have closed a kept connection meanwhile (uvicorn: idle 5 s)
            kept = self.idle.pop()
            if kept.reusable and kept.transport is not None and not kept.transport.is_closing():
                conn = kept
                break
        if conn is None:
            loop = asyncio.get_running_loop()
            try:
                _, conn = await loop.create_connection(_Connection, self.host, self.port)
            except OSError as exc:
                raise aiohttp.ClientConnectionError(str(exc)) from exc
        try:
            answer = await conn.request(raw, self.timeout)
        except BaseException:
            if conn.transport is not None:
                conn.transport.close()
            raise
        if conn.reusable and len(self.idle) < self.limit:
            self.idle.append(conn)
        elif conn.transport is not None:
            conn.transport.close()
        return answer

    async def __aenter__(self) -> Http1:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()


@contextlib.contextmanager
def frozen_collector(run: Run) -> Iterator[None]:
    """Run with what this process already holds (a benchmark's dataset, earlier results) frozen out of
    the cyclic collector, and count the collections that still happen. The generator's own full
    collections walked all of it, pausing every request in flight and due meanwhile; the open loop
    charges such a pause to the server (latency from when a request was due)."""
    started = 0.0

    def timed(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            run.gc_collections += 1
            run.gc_max_ms = max(run.gc_max_ms, (time.perf_counter() - started) * 1000)

    gc.freeze()
    gc.callbacks.append(timed)
    try:
        yield
    finally:
        gc.callbacks.remove(timed)
        gc.unfreeze()


async def closed_loop(
    call: Call, clients: int, duration: float, warmup: float = 1.0, client: Client = session
) -> Run:
    """`clients` concurrent clients, each sending its next request when the previous one answered."""
    run = Run()
    with frozen_collector(run):
        return await _closed_loop(run, call, clients, duration, warmup, client)


async def _closed_loop(
    run: Run, call: Call, clients: int, duration: float, warmup: float, client: Client
) -> Run:
    async with client(clients) as http:
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
    call: Call,
    rate: float,
    duration: float,
    max_in_flight: int = 256,
    give_up_after: float = 10.0,
    client: Client = session,
) -> Run:
    """Requests due at a steady `rate` for `duration` seconds, at most `max_in_flight` at once; a request
    that cannot start within `give_up_after` seconds of when it was due is not sent (counted)."""
    run = Run()
    with frozen_collector(run):
        return await _open_loop(run, call, rate, duration, max_in_flight, give_up_after, client)


async def _open_loop(
    run: Run,
    call: Call,
    rate: float,
    duration: float,
    max_in_flight: int,
    give_up_after: float,
    client: Client,
) -> Run:
    slots = asyncio.Semaphore(max_in_flight)
    async with client(max_in_flight) as http:
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
        "generator_gc": {"collections": run.gc_collections, "max_ms": round(run.gc_max_ms, 2)},
    }
