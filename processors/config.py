"""The processor's knobs: the shared Settings plus a few VANTHU_PROCESSOR_* variables (see the report)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from deploy.settings import Settings


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclass(frozen=True)
class ProcessorConfig:
    dsn: str
    bootstrap: str
    topic: str
    group: str = "vanthu-processors"  # the consumer group, and the faust app id
    instance_id: str | None = None  # static group membership: a restart takes its partitions back at once
    batch: int = 2000  # most records per transaction
    within: float = 0.005  # seconds a batch waits for more records: the latency floor
    session_timeout: float = 10.0  # seconds before a dead worker's partitions move to another
    run_saga: bool = True  # run the delivery saga and the deadline chaser (needs the write side)
    chase_interval: float = 60.0
    due_soon_days: int = 3  # default "due soon" window in working days (offices may set their own)

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> ProcessorConfig:
        s = settings or Settings.from_env()
        return cls(
            dsn=s.dsn,
            bootstrap=s.bootstrap,
            topic=s.events_topic,
            group=_env("VANTHU_PROCESSOR_GROUP", cls.group),
            instance_id=os.environ.get("VANTHU_PROCESSOR_INSTANCE_ID") or None,
            batch=int(_env("VANTHU_PROCESSOR_BATCH", str(cls.batch))),
            within=float(_env("VANTHU_PROCESSOR_WITHIN", str(cls.within))),
            session_timeout=float(_env("VANTHU_PROCESSOR_SESSION_TIMEOUT", str(cls.session_timeout))),
            run_saga=_env("VANTHU_PROCESSOR_SAGA", "1") not in {"0", "false", "no"},
            chase_interval=float(_env("VANTHU_PROCESSOR_CHASE_INTERVAL", str(cls.chase_interval))),
            due_soon_days=s.due_soon_days,
        )
