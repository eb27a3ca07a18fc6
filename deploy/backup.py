"""`vanthu backup` and `vanthu restore`: the store's own copy beside the events topic.

`backup` reserves a replication slot, streams the WAL into <dir>/wal with pg_receivewal, takes a base
backup into <dir>/base with pg_basebackup, and then keeps streaming until stopped. With `--synchronous`
the receiver is made the cluster's synchronous standby: a commit is acknowledged only once its WAL is in
<dir>/wal, so losing the data folder loses no acknowledged action (and commits wait while the receiver
is down — the price of that promise). `restore` rebuilds a stopped cluster's data folder from the base
backup and replays the WAL to its end, or to `--to` a point in time, then starts it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

from deploy.config.settings import Settings
from deploy.postgres import Postgres, server_bin_dir
from deploy.procs import StackError

SLOT = "vanthu_backup"  # also the receiver's application_name, as synchronous_standby_names names it


def _tool(name: str) -> str:
    return str(server_bin_dir(install=False) / name)


def _replication_dsn(settings: Settings) -> str:
    sep = "&" if "?" in settings.dsn else "?"
    return f"{settings.dsn}{sep}application_name={SLOT}"


def _psql(settings: Settings, sql: str) -> None:
    res = subprocess.run(
        [_tool("psql"), "-d", settings.dsn, "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise StackError(f"{sql}: {res.stderr.strip()}")


def start_receiver(settings: Settings, folder: Path) -> subprocess.Popen[bytes]:
    """Reserve the slot (WAL is kept from now on) and stream the WAL into <folder>/wal."""
    wal = folder / "wal"
    wal.mkdir(parents=True, exist_ok=True)
    slot = [_tool("pg_receivewal"), "-d", settings.dsn, "--slot", SLOT, "--create-slot", "--if-not-exists"]
    res = subprocess.run(slot, capture_output=True, text=True)
    if res.returncode != 0:
        raise StackError(f"pg_receivewal --create-slot: {res.stderr.strip()}")
    log = (folder / "receivewal.log").open("ab")
    return subprocess.Popen(
        [_tool("pg_receivewal"), "-d", _replication_dsn(settings), "-D", str(wal), "--slot", SLOT,
         "--synchronous", "--no-loop"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def base_backup(settings: Settings, folder: Path) -> float:
    """A consistent copy of the cluster in <folder>/base; returns the seconds it took."""
    base = folder / "base"
    if base.exists():
        raise StackError(f"{base} exists: a backup folder holds one base backup")
    started = time.monotonic()
    res = subprocess.run(
        [_tool("pg_basebackup"), "-d", settings.dsn, "-D", str(base), "-X", "stream", "-c", "fast"],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise StackError(f"pg_basebackup: {res.stderr.strip()}")
    return time.monotonic() - started


def _receiving(settings: Settings) -> bool:
    sql = f"SELECT count(*) FROM pg_stat_replication WHERE application_name = '{SLOT}' AND state='streaming'"
    res = subprocess.run([_tool("psql"), "-d", settings.dsn, "-tAc", sql], capture_output=True, text=True)
    return res.returncode == 0 and res.stdout.strip() not in ("", "0")


def wait_receiving(settings: Settings, receiver: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until the receiver streams: before that, a synchronous commit would wait for nobody in particular."""
    deadline = time.monotonic() + timeout
    while not _receiving(settings):
        if receiver.poll() is not None:
            raise StackError("pg_receivewal ended before it streamed; see receivewal.log")
        if time.monotonic() > deadline:
            raise StackError(f"pg_receivewal did not start streaming within {timeout:g}s; see receivewal.log")
        time.sleep(0.2)


def make_synchronous(settings: Settings, on: bool) -> None:
    """Acknowledge commits only once the receiver has them (on), or stop waiting for it (off)."""
    names = SLOT if on else ""
    _psql(settings, f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
    _psql(settings, "SELECT pg_reload_conf()")


def backup(settings: Settings, folder: Path, synchronous: bool) -> int:
    """The `vanthu backup` command: runs until SIGINT/SIGTERM."""
    receiver = start_receiver(settings, folder)
    try:
        seconds = base_backup(settings, folder)
        wait_receiving(settings, receiver)
        if synchronous:
            make_synchronous(settings, True)
        (folder / "READY").write_text(f"base backup in {seconds:.1f}s; streaming WAL\n")
        print(f"base backup in {folder / 'base'} ({seconds:.1f}s); streaming WAL into {folder / 'wal'}")
        stop = False

        def stopped(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, stopped)
        signal.signal(signal.SIGINT, stopped)
        while not stop and receiver.poll() is None:
            time.sleep(0.2)
        if receiver.poll() is not None and not stop:
            print("vanthu backup: pg_receivewal ended; see receivewal.log")
            return 1
        return 0
    finally:
        if receiver.poll() is None:
            receiver.terminate()
            receiver.wait(30)


def restore(settings: Settings, folder: Path, to: str | None = None) -> float:
    """Rebuild the (stopped, lost) cluster from <folder> and start it; returns the seconds until it serves."""
    started = time.monotonic()
    pg = Postgres(settings)
    if pg.running():
        raise StackError("postgres is running: stop it first; restore rebuilds a lost data folder")
    if (pg.data / "PG_VERSION").exists():
        raise StackError(f"{pg.data} holds a cluster: move it away first; restore never overwrites one")
    base, wal = folder / "base", folder / "wal"
    if not (base / "PG_VERSION").exists():
        raise StackError(f"{base}: no base backup there")
    shutil.rmtree(pg.data, ignore_errors=True)
    shutil.copytree(base, pg.data)
    replay = folder / "replay"
    shutil.rmtree(replay, ignore_errors=True)
    replay.mkdir()
    for segment in sorted(wal.iterdir()):
        # the segment being written when the cluster died is ".partial": it holds the last commits
        shutil.copy(segment, replay / segment.name.removesuffix(".partial"))
    (pg.data / "recovery.signal").write_text("")
    lines = [
        "# vanthu restore",
        f'restore_command = \'cp "{replay}/%f" "%p"\'',
        "recovery_target_timeline = 'latest'",
        "synchronous_standby_names = ''",  # the receiver is not there for the restored cluster
    ]
    if to:
        lines += [f"recovery_target_time = '{to}'", "recovery_target_action = 'promote'"]
    with (pg.data / "postgresql.auto.conf").open("a") as f:
        f.write("\n".join(lines) + "\n")
    for path in (pg.data, replay):
        pg.own_tree(path)
    pg.data.chmod(0o700)
    pg.up()
    return time.monotonic() - started
