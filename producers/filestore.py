"""The file store: a file's bytes kept once under their SHA-256, written once, read in ranges, never altered.

Two backends behind one small interface (`FileStore`): a directory on the local disk (the embedded default)
and an S3-compatible object store (several API machines). An upload is first spooled to a local temporary
file while it is hashed and counted (`spool`), so no file is ever whole in memory and nothing is visible
under a hash before all of its bytes are there; `put` then moves the spooled file in under its hash, or
drops it when those bytes are already stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import obstore
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from deploy.config.settings import Settings

CHUNK = 1 << 20
HEAD = 8192  # bytes kept from the start of an upload, for sniffing its media type


class TooLarge(Exception):
    """The upload passed the configured size limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the file is larger than the limit of {limit} bytes")


class StoreCorrupt(Exception):
    """Bytes already stored under a hash are not the size of the bytes that hash to it."""


@dataclass(frozen=True)
class Spooled:
    """An upload written to a local temporary file: its hash, its size and its first bytes."""

    path: Path
    sha256: str
    size: int
    head: bytes

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


class FileStore(Protocol):
    """Bytes by SHA-256: put once, read many times, in ranges."""

    spool_dir: Path  # where uploads are spooled before `put` (the same disk as a directory store)

    async def size(self, sha256: str) -> int | None:
        """The stored size, or None when no file has this hash."""
        ...

    async def put(self, spooled: Spooled) -> bool:
        """Store the spooled file under its hash (True), or drop it when already stored (False)."""
        ...

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes from `start` up to `end` (exclusive; the end of the file when None)."""
        ...

    async def delete(self, sha256: str) -> None:
        """Remove a file (only uploads never attached are collected)."""
        ...


async def spool(chunks: AsyncIterable[bytes], folder: Path, limit: int) -> Spooled:
    """Write `chunks` to a new temporary file in `folder`, hashing; TooLarge past `limit` bytes."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    path = folder / f".upload-{uuid.uuid4().hex}"
    digest, size, head = hashlib.sha256(), 0, bytearray()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > limit:
                raise TooLarge(limit)
            digest.update(chunk)
            if len(head) < HEAD:
                head += chunk[: HEAD - len(head)]
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        await asyncio.to_thread(os.fsync, fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
    return Spooled(path, digest.hexdigest(), size, bytes(head))


def sweep_spool(folder: Path, older_than_s: float = 86400) -> int:
    """Delete uploads a killed process left half-written in the spool (never visible under a hash); only old
    ones, since another API process may be spooling into the same folder right now."""
    import time

    swept = 0
    for path in folder.glob(".upload-*") if folder.exists() else ():
        try:
            if path.stat().st_mtime < time.time() - older_than_s:
                path.unlink()
                swept += 1
        except FileNotFoundError:
            pass
    return swept


def _check_sha(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a SHA-256 in lowercase hex: {sha256!r}")
    return sha256


class DirectoryStore:
    """Files under `root/ab/cd/<sha256>`, read-only once written; uploads spool in `root/.spool`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spool_dir = root / ".spool"

    def path(self, sha256: str) -> Path:
        sha = _check_sha(sha256)
        return self.root / sha[:2] / sha[2:4] / sha

    async def size(self, sha256: str) -> int | None:
        try:
            return self.path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    async def put(self, spooled: Spooled) -> bool:
        return await asyncio.to_thread(self._put, spooled)

    def _put(self, spooled: Spooled) -> bool:
        final = self.path(spooled.sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(spooled.path, 0o444)
        try:
            # link, not rename: a link never replaces what is there, so the first complete copy wins and
            # is never altered; the spooled file was fsync'd, the folder entry is fsync'd below.
            os.link(spooled.path, final)
        except FileExistsError:
            spooled.discard()
            if final.stat().st_size != spooled.size:
                raise StoreCorrupt(f"{final} is not {spooled.size} bytes long") from None
            return False
        spooled.discard()
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return True

    async def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        with open(self.path(sha256), "rb") as f:  # noqa: ASYNC230 (local disk; chunks are read in a thread)
            f.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                n = CHUNK if left is None else min(CHUNK, left)
                chunk = await asyncio.to_thread(f.read, n)
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    async def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)


class ObjectStore:
    """Files as objects `<prefix>sha256/<sha256>` in an S3 bucket; uploads spool on the local disk first.

    S3 servers differ in what they honour: S3Proxy answers NotImplemented to the newer checksum headers and
    ignores If-None-Match, so no checksum headers are sent, and put-if-absent is a HEAD before the PUT. Two
    machines storing the same new file at once both PUT the same bytes under the same key, which leaves
    the same object: content addressing makes the race harmless.
    """

    def __init__(self, store: S3Store, spool_dir: Path) -> None:
        self.store = store
        self.spool_dir = spool_dir

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        config: dict[str, Any] = {
            "endpoint": settings.s3_endpoint or None,
            "region": settings.s3_region,
            "access_key_id": settings.s3_access_key or None,
            "secret_access_key": settings.s3_secret_key or None,
            "virtual_hosted_style_request": False,
        }
        s3 = S3Store(
            settings.s3_bucket,
            config={k: v for k, v in config.items() if v is not None},  # type: ignore[arg-type]
            client_options={"allow_http": settings.s3_endpoint.startswith("http://")},
        )
        return cls(s3, settings.files_spool_dir)

    @staticmethod
    def key(sha256: str) -> str:
        return f"sha256/{_check_sha(sha256)}"

    async def size(self, sha256: str) -> int | None:
        try:
            meta = await obstore.head_async(self.store, self.key(sha256))
        except (NotFoundError, FileNotFoundError):
            return None
        return int(meta["size"])

    async def put(self, spooled: Spooled) -> bool:
        try:
            stored = await self.size(spooled.sha256)
            if stored is not None:
                if stored != spooled.size:
                    raise StoreCorrupt(f"object {self.key(spooled.sha256)} is not {spooled.size} bytes long")
                return False
            # A single PUT (or a multipart upload completed at the end): the object appears whole or not at
            # all, so an interrupted upload leaves nothing under the hash.
            await obstore.put_async(self.store, self.key(spooled.sha256), spooled.path, chunk_size=8 * CHUNK)
            return True
        finally:
            spooled.discard()

    async def read(self, sha256: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        size = await self.size(sha256)
        if size is None:
            raise FileNotFoundError(self.key(sha256))
        stop = size if end is None else min(end, size)
        if stop <= start:
            return
        result = await obstore.get_async(self.store, self.key(sha256), options={"range": (start, stop)})
        async for chunk in result.stream(min_chunk_size=CHUNK):
            yield bytes(chunk)

    async def delete(self, sha256: str) -> None:
        # obstore deletes through the multi-object POST ?delete with a checksum header, which S3Proxy (and
        # some other servers) refuse as NotImplemented: a presigned single-object DELETE works everywhere.
        url = await obstore.sign_async(self.store, "DELETE", self.key(sha256), timedelta(minutes=5))
        async with httpx.AsyncClient() as client:
            answer = await client.delete(url)
        if answer.status_code not in (200, 204, 404):
            raise OSError(f"DELETE {self.key(sha256)}: {answer.status_code} {answer.text[:300]}")


def file_store(settings: Settings) -> FileStore:
    """The store the settings name: `directory` (default) or `s3`."""
    if settings.files_backend == "directory":
        return DirectoryStore(settings.files_root)
    if settings.files_backend == "s3":
        return ObjectStore.from_settings(settings)
    raise ValueError(f"VANTHU_FILES_BACKEND={settings.files_backend!r}: use directory or s3")
