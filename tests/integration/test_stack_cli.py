"""`vanthu stack` as a user runs it: a private stack on its own ports, up twice, status, down."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.config.settings import REPO_ROOT
from deploy.procs import port_open


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 60000 and not port_open(port + 1):
            return port
    raise RuntimeError("no free port pair")


@pytest.fixture
def private_env() -> Iterator[dict[str, str]]:
    # under the repo, not /tmp: the Postgres service user must be able to reach the data folder
    data = REPO_ROOT / ".stack" / f"private-{uuid.uuid4().hex[:8]}"
    env = dict(
        os.environ,
        VANTHU_DATA_DIR=str(data),
        VANTHU_KAFKA_PORT=str(_free_port_pair()),
        VANTHU_PG_PORT=str(_free_port_pair()),
        VANTHU_CLUSTER_BASE_PORT=str(_free_port_pair()),
    )
    yield env
    _vanthu(env, "stack", "down")
    shutil.rmtree(data, ignore_errors=True)


def _vanthu(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_up_twice_status_and_down_leaves_nothing_running(stack: object, private_env: dict[str, str]) -> None:
    kafka_port, pg_port = int(private_env["VANTHU_KAFKA_PORT"]), int(private_env["VANTHU_PG_PORT"])
    first = _vanthu(private_env, "stack", "up")
    assert first.returncode == 0, first.stdout + first.stderr
    second = _vanthu(private_env, "stack", "up")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already running" in second.stdout

    status = _vanthu(private_env, "stack", "status").stdout
    lines = {line.split()[0]: line for line in status.splitlines()}
    assert f"127.0.0.1:{pg_port}" in lines["postgres"] and "running" in lines["postgres"]
    assert f"127.0.0.1:{kafka_port}" in lines["kafka"] and "running (pid" in lines["kafka"]
    for n in (1, 2, 3):
        assert "stopped" in lines[f"kafka-{n}"]

    logs = _vanthu(private_env, "stack", "logs", "kafka", "-n", "5")
    assert logs.returncode == 0 and "kafka.log" in logs.stdout

    down = _vanthu(private_env, "stack", "down")
    assert down.returncode == 0 and "kafka" in down.stdout and "postgres" in down.stdout
    assert not port_open(kafka_port) and not port_open(kafka_port + 1) and not port_open(pg_port)
    data = Path(private_env["VANTHU_DATA_DIR"])
    leftovers = subprocess.run(["pgrep", "-f", str(data)], capture_output=True, text=True).stdout.split()
    assert leftovers == []


def test_a_taken_port_gives_a_clear_message(private_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        env = dict(private_env, VANTHU_PG_PORT=str(squatter.getsockname()[1]))
        res = _vanthu(env, "stack", "up")
    assert res.returncode == 1
    assert f"port {env['VANTHU_PG_PORT']} is taken" in res.stderr and "VANTHU_PG_PORT" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_checkout_the_postgres_user_cannot_reach_gets_its_cluster_relocated(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root runs the cluster as another user")
    private = tmp_path / "private"  # under pytest's 0700 folder: out of reach of other users
    private.mkdir(mode=0o700)
    env = dict(
        os.environ,
        VANTHU_DATA_DIR=str(private / ".stack"),
        VANTHU_KAFKA_PORT=str(_free_port_pair()),
        VANTHU_PG_PORT=str(_free_port_pair()),
        VANTHU_CLUSTER_BASE_PORT=str(_free_port_pair()),
    )
    try:
        up = _vanthu(env, "stack", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "is out of reach of the user" in up.stdout
        where = Path((private / ".stack" / "postgres.location").read_text().strip())
        assert (where / "data" / "PG_VERSION").exists()
        assert "running" in _vanthu(env, "stack", "status").stdout.splitlines()[0]
    finally:
        reset = _vanthu(env, "stack", "reset")
    assert reset.returncode == 0 and not port_open(int(env["VANTHU_PG_PORT"]))
    assert not where.exists()
