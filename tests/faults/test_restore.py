"""`vanthu backup --synchronous` and `vanthu restore` on a PostgreSQL cluster of its own: the data folder
is lost under load (kill -9, then deleted), the restore brings back every acknowledged action, and the
chain still verifies."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from deploy.config.db import connect, create_pool
from deploy.config.settings import REPO_ROOT, Settings
from deploy.postgres import Postgres
from tests.toolkit.waiting import wait_until

pytestmark = pytest.mark.timeout(300)

HERE = Path(__file__).parent
FULL = bool(os.environ.get("VANTHU_FAULTS"))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(s: Settings) -> dict[str, str]:
    return dict(os.environ, VANTHU_DATA_DIR=str(s.data_dir), VANTHU_PG_PORT=str(s.pg_port), VANTHU_PG_DSN="")


async def test_the_data_folder_lost_under_load_is_restored_to_the_last_acknowledged_action(
    settings: Settings,
) -> None:
    from deploy.config.settings import APP_ROLE, with_user
    from deploy.migrate import migrate_dsn
    from producers.audit import verify
    from producers.handler import HandleRequest, handle
    from schemas.parsing import parse_create
    from tests.producers.conftest import CLERK, TASK
    from tests.toolkit import OFFICES

    data = REPO_ROOT / ".stack" / f"backup-{uuid.uuid4().hex[:8]}"
    s = settings.with_(data_dir=data, pg_port=_free_port(), pg_dsn="", pg_app_dsn="", pg_processor_dsn="")
    pg = Postgres(s)
    folder = data / "backup"
    backup: subprocess.Popen[bytes] | None = None
    try:
        await asyncio.to_thread(pg.up)
        await migrate_dsn(s.dsn)
        folder.mkdir(parents=True)
        backup = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-m", "deploy.cli", "backup", "--dir", str(folder), "--synchronous"],
            env=_env(s),
            stdout=(folder / "backup.out").open("wb"),
            stderr=subprocess.STDOUT,
        )
        await wait_until(lambda: (folder / "READY").exists(), 120, "the base backup")

        acked: list[tuple[str, int]] = []  # (document, position) of every answered create
        pool = await create_pool(with_user(s.dsn, APP_ROLE), max_size=4)
        stop, killed = asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            while not stop.is_set():
                doc = str(uuid.uuid4())
                request = HandleRequest(parse_create(TASK), document_id=doc, expected_version=0, actor=CLERK)
                try:
                    result = await handle(pool, request, OFFICES)
                except Exception:
                    if killed.is_set():
                        return  # the cluster is gone: what was answered is what counts
                    await asyncio.sleep(0.1)  # a slow moment before the kill is no reason to stop writing
                    continue
                acked.append((doc, result.position))

        writers = [asyncio.create_task(writer()) for _ in range(3)]
        await wait_until(lambda: len(acked) >= 200, 180, "200 acknowledged actions")
        killed.set()
        await asyncio.to_thread(pg.kill)  # mid-load
        stop.set()
        await asyncio.gather(*writers)
        pool.terminate()
        shutil.rmtree(pg.data)  # the disk under PostgreSQL is lost

        backup.send_signal(signal.SIGTERM)
        backup.wait(30)
        started = time.monotonic()
        restored = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "deploy.cli", "restore", "--dir", str(folder)],
            env=_env(s),
            capture_output=True,
            text=True,
            timeout=240,
        )
        seconds = time.monotonic() - started
        assert restored.returncode == 0, restored.stdout + restored.stderr
        conn = await connect(s.dsn)
        try:
            present = {
                r["stream_id"]
                for r in await conn.fetch(
                    "SELECT stream_id FROM events WHERE stream_id = ANY($1::text[])", [d for d, _ in acked]
                )
            }
            lost = [a for a in acked if a[0] not in present]
            report = await verify(conn)
        finally:
            await conn.close()
        figures = {
            "acknowledged": len(acked),
            "actions_lost": len(lost),
            "restore_seconds": round(seconds, 1),
        }
        print(json.dumps(figures))
        if FULL:  # `make faults` keeps the figures beside the chaos run's
            results = HERE / "results.json"
            kept = json.loads(results.read_text()) if results.exists() else {}
            results.write_text(json.dumps({**kept, "restore": figures}, ensure_ascii=False, indent=2) + "\n")
        assert lost == [], f"{len(lost)} acknowledged actions lost"
        assert report.ok, report.problems[:5]
    finally:
        if backup is not None and backup.poll() is None:
            backup.kill()
        await asyncio.to_thread(pg.down)
        shutil.rmtree(data, ignore_errors=True)


def test_restore_refuses_over_an_existing_cluster(tmp_path: Path) -> None:
    cluster = tmp_path / "stack" / "postgres" / "data"
    cluster.mkdir(parents=True)
    (cluster / "PG_VERSION").write_text("17\n")
    res = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "restore", "--dir", str(tmp_path / "backup")],
        env=dict(os.environ, VANTHU_DATA_DIR=str(tmp_path / "stack"), VANTHU_PG_PORT=str(_free_port())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode != 0
    assert "holds a cluster" in res.stderr and "never overwrites" in res.stderr, res.stderr
    assert (cluster / "PG_VERSION").read_text() == "17\n"
