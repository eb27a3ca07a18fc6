"""What every benchmark shares: scale, percentiles, the machine, CPU accounting, processes on pinned cores."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from deploy.config.settings import REPO_ROOT, Settings

HERE = Path(__file__).resolve().parent
LOGS = REPO_ROOT / ".stack" / "logs" / "bench"
SERVER_CPU = 0  # the server under test (API, or the CRUD baseline) runs here
LOADGEN_CPU = 1  # the load generator (this process) runs here; Postgres and Kafka may use both


def scale() -> float:
    """BENCH_SCALE=0.05 runs a 1/20 smoke version; 1 is the full benchmark."""
    return float(os.environ.get("BENCH_SCALE", "1"))


def scaled(n: float, floor: float = 1) -> int:
    return max(int(floor), int(n * scale()))


def seconds(n: float, floor: float = 3) -> float:
    return max(floor, n * scale())


def percentile(values: Sequence[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def latency_ms(values_s: Sequence[float]) -> dict[str, float | None]:
    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 2)

    return {
        "p50_ms": ms(percentile(values_s, 50)),
        "p99_ms": ms(percentile(values_s, 99)),
        "max_ms": ms(max(values_s) if values_s else None),
        "samples": len(values_s),
    }


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pinned(cpu: int) -> list[str]:
    """`taskset -c cpu` when the machine has a core to give (else nothing)."""
    if (os.cpu_count() or 1) < 2 or not Path("/usr/bin/taskset").exists():
        return []
    return ["taskset", "-c", str(cpu)]


def unpinned() -> list[str]:
    """`taskset -c 0-N` (every core): a process this one starts inherits its affinity, so while the
    load generator is pinned, what it starts would otherwise share its one core."""
    cores = os.cpu_count() or 1
    if cores < 2 or not Path("/usr/bin/taskset").exists():
        return []
    return ["taskset", "-c", f"0-{cores - 1}"]


def pin_self(cpu: int = LOADGEN_CPU) -> None:
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {cpu})


def unpin_self() -> None:
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions(settings: Settings, postgres: str | None = None) -> dict[str, str]:
    out = {"python": platform.python_version(), "kafka": settings.kafka_version}
    if postgres:
        out["postgres"] = postgres
    for dist in (
        "fastapi",
        "uvicorn",
        "starlette",
        "asyncpg",
        "aiokafka",
        "kafka-python",
        "faust-streaming",
        "aiohttp",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        out["vanthu_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        pass
    return out


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- CPU accounting ---------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / _TICK
    except (OSError, IndexError):
        return 0.0


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _group_pids() -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {"kafka": []}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        cmd = _cmdline(int(entry))
        if "kafka.Kafka" in cmd:
            groups["kafka"].append(int(entry))
    return groups


def _machine_busy() -> tuple[float, float]:
    with open("/proc/stat") as f:
        fields_ = [int(x) for x in f.readline().split()[1:]]
    idle = fields_[3] + fields_[4]
    return (sum(fields_) - idle) / _TICK, sum(fields_) / _TICK


@dataclass
class CpuMeter:
    """CPU seconds per second of wall time, per component, over a measured window.

    "machine" counts every process; "rest" is machine minus the components named (PostgreSQL, whose
    backends come and go with connections, and any other work sharing the cores)."""

    pids: dict[str, int] = field(default_factory=dict)  # name -> pid of a process we started
    _start: dict[str, float] = field(default_factory=dict)
    _t0: float = 0.0
    _groups: dict[str, list[int]] = field(default_factory=dict)

    def _sample(self) -> dict[str, float]:
        out = {name: _proc_cpu(pid) + _children_cpu(pid) for name, pid in self.pids.items()}
        out["loadgen"] = _proc_cpu(os.getpid())
        for name, pids in self._groups.items():
            out[name] = sum(_proc_cpu(p) for p in pids)
        busy, _total = _machine_busy()
        out["machine"] = busy
        return out

    def start(self) -> CpuMeter:
        self._groups = _group_pids()
        self._t0 = time.monotonic()
        self._start = self._sample()
        return self

    def stop(self) -> dict[str, Any]:
        wall = time.monotonic() - self._t0
        end = self._sample()
        used = {k: round((end[k] - self._start.get(k, 0.0)) / wall, 2) for k in end}
        used["rest"] = round(used["machine"] - sum(v for k, v in used.items() if k != "machine"), 2)
        return {"cores_busy": used, "window_s": round(wall, 1), "cores": os.cpu_count()}


def _children_cpu(pid: int) -> float:
    """CPU of the process's children (taskset execs, so usually none)."""
    total = 0.0
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += _proc_cpu(int(child))
    except OSError:
        pass
    return total


# --- processes ---------------------------------------------------------------------------------------


def uvicorn_argv(app: str, port: int, cpu: int | None = SERVER_CPU) -> list[str]:
    prefix = pinned(cpu) if cpu is not None else []
    return [
        *prefix,
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
