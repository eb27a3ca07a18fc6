"""files: upload (POST /v1/files) and download (GET /v1/documents/{id}/files/{sha}) MiB/s through the API
process with the directory store, against a plain `cp` of the same file on the same disk, in the same run."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.bench.common import scaled
from tests.bench.system import Services, discard, fresh, token_headers

MIB = 1024 * 1024
CHUNK = MIB


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _baseline(src: Path, folder: Path) -> dict[str, float]:
    """`cp` of the file, and `cp` followed by an fsync of the copy (the store fsyncs what it keeps)."""
    dst = folder / "cp-copy"
    t0 = time.monotonic()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    cp_s = time.monotonic() - t0
    dst.unlink()
    t0 = time.monotonic()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    _fsync(dst)
    cp_fsync_s = time.monotonic() - t0
    dst.unlink()
    return {"cp_s": cp_s, "cp_fsync_s": cp_fsync_s}


async def run(ctx: Any) -> dict[str, Any]:
    size_mib = scaled(512, 16)
    settings, _ = await fresh(ctx.settings, "files")
    folder = Path(tempfile.mkdtemp(prefix="bench-files-", dir=ctx.settings.data_dir))
    store = folder / "store"
    services = Services(
        settings.with_(files_dir=store), extra={"VANTHU_FILES_MAX_BYTES": str((size_mib + 1) * MIB)}
    )
    try:
        src = folder / "source.bin"
        digest = hashlib.sha256()
        with src.open("wb") as f:
            for _ in range(size_mib):
                block = os.urandom(CHUNK)
                digest.update(block)
                f.write(block)
        _fsync(src)
        services.api()
        base = _baseline(src, folder)
        clerk = token_headers(settings, "tu-hcm", "clerk")

        async def body() -> Any:
            with src.open("rb") as f:
                while block := f.read(CHUNK):
                    yield block

        async with httpx.AsyncClient(base_url=services.base_url, timeout=600, headers=clerk) as http:
            headers = {"Content-Type": "application/octet-stream", "X-File-Name": "bench.bin"}
            t0 = time.monotonic()
            up = await http.post("/v1/files", content=body(), headers=headers)
            upload_s = time.monotonic() - t0
            assert up.status_code == 201, up.text
            sha = up.json()["sha256"]
            assert sha == digest.hexdigest()
            doc = await http.post(
                "/v1/documents",
                json={
                    "kind": "outgoing",
                    "office_id": "tu-hcm",
                    "document_type": "CV",
                    "summary": "bench",
                    "attachments": [{"sha256": sha}],
                },
                headers=token_headers(settings, "tu-hcm", "specialist"),
            )
            assert doc.status_code == 201, doc.text
            out = folder / "downloaded.bin"
            t0 = time.monotonic()
            async with http.stream("GET", f"/v1/documents/{doc.json()['id']}/files/{sha}") as resp:
                assert resp.status_code == 200
                with out.open("wb") as f:
                    async for block in resp.aiter_raw(CHUNK):
                        f.write(block)
                _fsync(out)
            download_s = time.monotonic() - t0
        assert out.stat().st_size == size_mib * MIB

        def rate(s: float) -> float:
            return round(size_mib / s, 1)

        return {
            "file_mib": size_mib,
            "upload_mib_per_s": rate(upload_s),
            "download_mib_per_s": rate(download_s),
            "cp_mib_per_s": rate(base["cp_s"]),
            "cp_fsync_mib_per_s": rate(base["cp_fsync_s"]),
            "ratio_upload_vs_cp_fsync": round(base["cp_fsync_s"] / upload_s, 3),
            "ratio_download_vs_cp_fsync": round(base["cp_fsync_s"] / download_s, 3),
            "parameters": {
                "upload": "httpx streams the file from disk in 1 MiB chunks to POST /v1/files (API pinned to "
                "one core): hashed, spooled, fsync'd, linked under its hash in the directory store",
                "download": "GET of the attached file, written to a file on the same disk and fsync'd",
                "baseline": "`cp` of the same file on the same disk (and `cp` + fsync of the copy)",
            },
        }
    finally:
        services.stop_all()
        shutil.rmtree(folder, ignore_errors=True)
        await discard(settings, ctx.settings)
