"""The queries benchmark's HTTP/1.1 client (tests/bench/loadgen.py Http1): answers read by Content-Length
however they arrive, connections kept alive and reused, and closed or unreadable answers failing the
request as aiohttp's errors do (so the load generator counts them)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.bench.loadgen import Http1, prepare_get
from tests.toolkit.waiting import wait_until


async def _server(answers: list[list[bytes]]) -> tuple[asyncio.Server, list[bytes], list[int]]:
    """A server that answers the n-th request it reads with the pieces of answers[n], written apart."""
    requests: list[bytes] = []
    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(requests))
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            requests.append(head)
            for piece in answers[len(requests) - 1]:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.001)
            if b"close" in answers[len(requests) - 1][0].lower():
                break
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0), requests, connections


async def test_answers_are_read_by_length_on_kept_connections() -> None:
    ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n"
    answers = [
        [ok[:20], ok[20:] + b'{"a":', b' "bcd"}'],  # head and body in pieces
        [b"HTTP/1.1 422 Unprocessable Entity\r\nContent-Length: 2\r\n\r\n{}"],
        [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
    ]
    server, requests, connections = await _server(answers)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/offices/tu-hcm/stats?from=2026-01-01"
    raw = prepare_get(url, {"Authorization": "Bearer t"})
    async with server, Http1(f"http://127.0.0.1:{port}", 4) as http:
        assert await http.get(raw) == (200, b'{"a": "bcd"}')
        assert await http.get(raw) == (422, b"{}")
        assert await http.get(raw) == (200, b"")  # the server closes this one: not kept
        assert await http.get(raw) == (200, b"")
    assert requests[0].startswith(b"GET /v1/offices/tu-hcm/stats?from=2026-01-01 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}".encode() in requests[0] and b"Authorization: Bearer t" in requests[0]
    assert connections == [0, 3]  # three requests on the first connection, then a new one


async def test_an_answer_without_length_or_a_dropped_connection_fails_the_request() -> None:
    answers = [
        [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
        [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nshort"],
    ]
    server, _, _ = await _server(answers)
    port = server.sockets[0].getsockname()[1]
    raw = prepare_get(f"http://127.0.0.1:{port}/")
    async with server, Http1(f"http://127.0.0.1:{port}", 4) as http:
        with pytest.raises(aiohttp.ClientError):
            await http.get(raw)
        with pytest.raises(aiohttp.ClientError):
            await http.get(raw)
    with pytest.raises(aiohttp.ClientError):  # nothing listens there now
        async with Http1(f"http://127.0.0.1:{port}", 4) as http:
            await http.get(raw)


async def test_a_kept_connection_the_server_closed_is_not_reused() -> None:
    # uvicorn closes a keep-alive connection idle for 5 s: a request written on it was never answered and
    # waited out its timeout (the queries benchmark's ladder counted 30 s requests after each pause).
    closed = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # kept alive, then closed idle
        await writer.drain()
        writer.close()
        closed.set()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    raw = prepare_get(f"http://127.0.0.1:{port}/healthz")
    async with server, Http1(f"http://127.0.0.1:{port}", 4, timeout=5.0) as http:
        assert await http.get(raw) == (200, b"")
        await closed.wait()
        kept = http.idle[0]
        await wait_until(lambda: not kept.reusable, 10, "the client to see the server's close")
        assert await http.get(raw) == (200, b"")


def test_a_run_holds_the_process_s_objects_out_of_the_collector_and_counts_its_collections() -> None:
    import gc

    from tests.bench.loadgen import Run, frozen_collector

    held = [[i] for i in range(10_000)]  # what a benchmark process holds before a run (its dataset)
    run = Run()
    with frozen_collector(run):
        assert gc.get_freeze_count() >= len(held)
        gc.collect()
    assert gc.get_freeze_count() == 0
    assert run.gc_collections >= 1 and run.gc_max_ms > 0
