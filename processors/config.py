"""The processor's view of the one Settings object (the VANTHU_PROCESSOR_* variables among them)."""

from __future__ import annotations

from dataclasses import dataclass

from deploy.config.offices import Offices, configured_offices
from deploy.config.settings import Settings
from producers.filestore import FileStore, file_store


@dataclass(frozen=True)
class ProcessorConfig:
    dsn: str  # the processors' own role: the read models, never the event store
    write_dsn: str  # the services' role, which the saga and the chaser record their commands through
    bootstrap: str
    topic: str
    offices: Offices  # the saga names senders and the chaser reads each office's window from these
    group: str = "vanthu-processors"  # the consumer group, and the faust app id
    instance_id: str | None = None  # static group membership: a restart takes its partitions back at once
    batch: int = 2000  # most records per transaction
    lanes: int = 2  # writers, each with the partitions p where p % lanes is its number, and a connection
    within: float = 0.005  # longest a batch waits for more records (a fetch's records go at once: take.py)
    session_timeout: float = 10.0  # seconds before a dead worker's partitions move to another
    run_saga: bool = True  # run the delivery saga and the deadline chaser (needs the write side)
    chase_interval: float = 60.0
    due_soon_days: int = 3  # default "due soon" window in working days (offices may set their own)
    datadir: str | None = None  # faust's own folder (it keeps none of our state); default: under data_dir
    files: FileStore | None = None  # attached files, read for their text and signatures (None: not read)
    trust_roots: str = ""  # PEM files of the CAs a signature must chain to (VANTHU_TRUST_ROOTS)
    unattached_hours: float = 24.0  # uploads no document attached within this long are collected

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> ProcessorConfig:
        s = settings or Settings.from_env()
        return cls(
            dsn=s.processor_dsn,
            write_dsn=s.app_dsn,
            bootstrap=s.bootstrap,
            topic=s.events_topic,
            offices=configured_offices(s),
            group=s.processor_group,
            instance_id=s.processor_instance_id or None,
            batch=s.processor_batch,
            lanes=s.processor_lanes,  # at least one: Projector
            within=s.processor_within,
            session_timeout=s.processor_session_timeout,
            run_saga=s.processor_saga,
            chase_interval=s.processor_chase_interval,
            due_soon_days=s.due_soon_days,
            datadir=str(s.data_dir / "processors" / "{conf.name}-data"),
            files=file_store(s),
            trust_roots=s.trust_roots,
            unattached_hours=s.files_unattached_hours,
        )
