"""The file store, the same tests against the directory backend and against a real S3 server (S3Proxy)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from deploy.config.settings import Settings
from producers.filestore import FileStore, TooLarge, file_store, spool


async def chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def read_all(store: FileStore, sha: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([c async for c in store.read(sha, start, end)])


async def test_put_read_ranges_and_once(files_settings: Settings) -> None:
    store = file_store(files_settings)
    data = os.urandom(3 * 1024 * 1024 + 17)
    sha = hashlib.sha256(data).hexdigest()
    assert await store.size(sha) is None

    first = await spool(chunks(data), store.spool_dir, limit=10 << 20)
    assert (first.sha256, first.size, first.head) == (sha, len(data), data[:8192])
    assert await store.put(first) is True
    assert await store.size(sha) == len(data)
    assert await read_all(store, sha) == data
    assert await read_all(store, sha, 10, 20) == data[10:20]
    assert await read_all(store, sha, len(data) - 5) == data[-5:]

    again = await spool(chunks(data, 1000), store.spool_dir, limit=10 << 20)
    assert await store.put(again) is False  # already there: stored once
    assert not again.path.exists()
    assert [p for p in store.spool_dir.iterdir()] == []  # no spooled file is left behind
    assert await read_all(store, sha) == data


async def test_over_the_limit_leaves_nothing(files_settings: Settings) -> None:
    store = file_store(files_settings)
    data = os.urandom(300_000)
    with pytest.raises(TooLarge):
        await spool(chunks(data), store.spool_dir, limit=200_000)
    assert list(store.spool_dir.iterdir()) == []
    assert await store.size(hashlib.sha256(data).hexdigest()) is None


async def test_delete_and_bad_hash(files_settings: Settings) -> None:
    store = file_store(files_settings)
    s = await spool(chunks(b"hello"), store.spool_dir, limit=100)
    await store.put(s)
    await store.delete(s.sha256)
    assert await store.size(s.sha256) is None
    with pytest.raises(ValueError):
        await store.size("../../etc/passwd")


async def test_old_half_written_uploads_are_swept(files_settings: Settings) -> None:
    from producers.filestore import sweep_spool

    store = file_store(files_settings)
    store.spool_dir.mkdir(parents=True, exist_ok=True)
    old, new = store.spool_dir / ".upload-old", store.spool_dir / ".upload-new"
    old.write_bytes(b"cut short")
    new.write_bytes(b"still arriving")
    os.utime(old, (1, 1))
    assert sweep_spool(store.spool_dir) == 1
    assert not old.exists() and new.exists()
