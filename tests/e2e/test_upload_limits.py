"""Uploads against the API as a real process: a 200 MiB upload is refused with 413 while the API's memory
stays under 200 MiB (measured: its peak resident set); a kill -9 mid-upload leaves nothing under a hash."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.e2e.conftest import System
from tests.toolkit.waiting import wait_until

CITY = "tu-hcm"
MIB = 1024 * 1024
BLOCK = bytes(range(256)) * 4096  # 1 MiB


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def blocks(n: int, pause: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    for i in range(n):
        if pause is not None and i == 8:
            await pause.wait()  # hold the upload open half-way
        yield BLOCK


def stored_files(root: Path) -> list[Path]:
    """Every file under a hash in the directory store (the spool folder is not the store)."""
    return [p for p in root.rglob("*") if p.is_file() and ".spool" not in p.parts]


async def test_a_200_mib_upload_is_refused_in_bounded_memory(system: System, http: httpx.AsyncClient) -> None:
    api = system.services.processes["api"].pid
    assert api is not None
    clerk = system.token(CITY, "clerk")
    headers = {**clerk, "Content-Type": "application/octet-stream", "X-File-Name": "big.bin"}
    # declared: refused before a byte is read
    url = httpx.URL(system.base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Length: {200 * MIB}\r\n{head}\r\n"
    writer.write(request.encode())
    await writer.drain()
    assert (await reader.readline()).startswith(b"HTTP/1.1 413")
    writer.close()
    # streamed without a length: read up to the limit (100 MiB by default), then refused
    try:
        streamed = await http.post("/v1/files", content=blocks(200), headers=headers, timeout=300)
        assert streamed.status_code == 413, streamed.text
    except httpx.WriteError:
        pass  # the server answered and closed while the client was still sending: also a refusal
    peak = peak_rss_mib(api)
    print(f"API peak resident set after a 200 MiB upload: {peak:.0f} MiB")
    assert peak < 200
    assert stored_files(system.settings.files_root) == []
    assert list(system.settings.files_spool_dir.glob(".upload-*")) == []
    ok = await http.post("/v1/files", content=blocks(20), headers=headers, timeout=300)
    assert ok.status_code == 201 and ok.json()["size"] == 20 * MIB


async def test_kill_9_mid_upload_leaves_nothing_under_the_hash(
    system: System, http: httpx.AsyncClient
) -> None:
    process = system.services.processes["api"]
    clerk = system.token(CITY, "clerk")
    headers = {**clerk, "Content-Type": "application/octet-stream", "X-File-Name": "cut.bin"}
    before = set(stored_files(system.settings.files_root))
    full = hashlib.sha256(BLOCK * 16).hexdigest()
    pause = asyncio.Event()
    sending = asyncio.create_task(http.post("/v1/files", content=blocks(16, pause), headers=headers))

    def spooling() -> list[Path]:
        return [p for p in system.settings.files_spool_dir.glob(".upload-*") if p.stat().st_size > 0]

    async def started() -> list[Path]:
        return spooling()

    await wait_until(started, what="the upload to reach the spool")
    process.kill()
    pause.set()
    try:
        await sending
    except httpx.HTTPError:
        pass
    assert set(stored_files(system.settings.files_root)) == before  # nothing new under any hash
    assert not any(p.name == full for p in stored_files(system.settings.files_root))
    process.start()
    system.services.wait_api()
    # the same bytes uploaded again are stored whole, as new
    again = await http.post("/v1/files", content=blocks(16), headers=headers)
    assert again.status_code == 201 and again.json()["sha256"] == full
