"""A steady mixed workload through the API while processes are killed, brokers and PostgreSQL restarted
and poison records land on the events topic; then: nothing acknowledged is lost or doubled, every
stored event is on the topic in order, the read models equal a rebuild, and the audit passes.

The quick run (in `make test`) kills each service once on the shared stack; the full run (`make
faults`) kills each five times and restarts Kafka and PostgreSQL on a private stack of its own."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from deploy.config.settings import REPO_ROOT, Settings
from deploy.procs import port_open
from tests.faults.checks import Verdict, compare_quiet, settle, verify
from tests.faults.poison import poison_records, send_poison
from tests.faults.services import PROCESSES, Services, api_settings
from tests.faults.workload import Workload
from tests.toolkit.waiting import wait_until

HERE = Path(__file__).parent
FULL = bool(os.environ.get("VANTHU_FAULTS"))


@dataclass
class Recovery:
    fault: str
    target: str
    down_s: float  # how long it was down on purpose
    recovery_s: float  # from the restart to a write acknowledged and visible in the read models
    acks_while_down: int = 0
    compare_mismatches: int = -1  # `audit compare` once the workload stopped and everything caught up
    quiesce_s: float = 0.0  # from stopping the workload to the end of that compare


@dataclass
class Run:
    services: Services
    workload: Workload
    rng: random.Random
    recoveries: list[Recovery] = field(default_factory=list)
    poison_sent: int = 0
    compare_details: list[str] = field(default_factory=list)

    async def fault(
        self, kind: str, target: str, inject: Callable[[], Awaitable[None]], restore: Any
    ) -> None:
        await asyncio.sleep(self.rng.uniform(0.5, 3.0))  # a random moment in the workload
        acks = len(self.workload.acks)
        down = time.monotonic()
        await inject()
        await asyncio.sleep(self.rng.uniform(0.2, 1.5))
        acks_while_down = len(self.workload.acks) - acks
        up = time.monotonic()
        await restore()
        await self.workload.probe()
        self.recoveries.append(
            Recovery(kind, target, round(up - down, 2), round(time.monotonic() - up, 2), acks_while_down)
        )

    async def kill(self, name: str) -> None:
        async def inject() -> None:
            self.services.kill(name)

        async def restore() -> None:
            self.services.start(name)

        await self.fault("sigkill", name, inject, restore)

    async def poison(self, count: int) -> None:
        ids = sorted({a.document_id for a in self.workload.acks})
        records = poison_records(count, ids, seed=self.rng.randrange(1 << 30))
        s = self.services.settings

        async def inject() -> None:
            self.poison_sent += await asyncio.to_thread(send_poison, s.bootstrap, s.events_topic, records)

        async def nothing() -> None:
            return None

        await self.fault("poison", f"{count} records", inject, nothing)


def _free_base(width: int) -> int:
    """A port p with p .. p+width all free (and a few beyond, for controllers)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(30000, 59000 - width)
        ports = [base + d for d in range(0, width + 2, 100)] + [
            base + d + 1 for d in range(0, width + 2, 100)
        ]
        if not any(port_open(p) for p in ports):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", base))
                except OSError:
                    continue
            return base
    raise RuntimeError("no free ports")


@pytest.fixture(scope="module")
def private_stack(settings: Settings) -> Iterator[Any]:
    """A stack of its own (PostgreSQL + the 3-broker cluster) that this test may restart at will."""
    from deploy.stack import Stack
    from producers.topics import ensure_topic

    data = REPO_ROOT / ".stack" / f"faults-{uuid.uuid4().hex[:8]}"
    s = settings.with_(
        data_dir=data,
        pg_port=_free_base(1),
        kafka_port=_free_base(1),
        cluster_base_port=_free_base(201),
        kafka_heap="384m",
        pg_dsn="",
        kafka_bootstrap="",
        events_topic="vanthu.events",
    )
    stack = Stack(s)
    try:
        stack.postgres.up()
        stack.migrate()
        stack.cluster_up()
        ensure_topic(
            stack.cluster_bootstrap, s.events_topic, s.partitions, 3, configs={"min.insync.replicas": "2"}
        )
        yield stack
    finally:
        stack.cluster_down()
        stack.postgres.down()
        shutil.rmtree(data, ignore_errors=True)


# Idle time `audit compare` waits for after each fault: longer than the chaser's interval in these runs
# (tests/faults/services.py), so no chasing event lands between the copies it reads.
QUIET_S = 6.0


async def _chaos(run: Run, plan: list[Callable[[], Awaitable[None]]]) -> None:
    """Each step (one fault) under the workload; then quiesce (stop the workload, let the relay and the
    processor catch up) and hold store, topic and read models to each other with `audit compare`."""
    stop = asyncio.Event()
    supervisor = asyncio.create_task(run.services.supervise(stop))
    try:
        await run.workload.probe()
        for step in plan:
            pause = asyncio.Event()
            load = asyncio.create_task(run.workload.run(pause))
            try:
                await step()
            finally:
                pause.set()
                await load  # a workload crash is a test failure, not a silent stop
            quiesced = time.monotonic()
            mismatches, details = await compare_quiet(run.services.settings, QUIET_S)
            run.recoveries[-1].compare_mismatches = mismatches
            run.recoveries[-1].quiesce_s = round(time.monotonic() - quiesced, 2)
            run.compare_details += [f"after {run.recoveries[-1].fault} {run.recoveries[-1].target}: {d}"
                                    for d in details]  # fmt: skip
    finally:
        stop.set()
        await supervisor


def _check(verdict: Verdict, run: Run) -> None:
    assert run.workload.refused == [], run.workload.refused[:5]
    assert run.workload.gave_up == 0
    assert verdict.lost == 0, verdict.details[:10]
    assert verdict.duplicated == 0, verdict.details[:10]
    assert verdict.not_on_topic == 0 and verdict.out_of_order_on_topic == 0, verdict.details[:10]
    assert verdict.read_models_behind_store == 0
    assert verdict.read_model_mismatches == 0, verdict.details
    assert verdict.real_documents_dead_lettered == 0
    assert verdict.dead_lettered == run.poison_sent, verdict.details
    assert verdict.audit_ok, verdict.audit
    assert verdict.compare_mismatches == 0, verdict.details
    assert [r.compare_mismatches for r in run.recoveries] == [0] * len(run.recoveries), run.compare_details


def _report(path: Path, verdict: Verdict, run: Run, started: float, mode: str) -> dict[str, Any]:
    report = {
        "mode": mode,
        "acknowledged": verdict.acknowledged,
        "lost": verdict.lost,
        "duplicated": verdict.duplicated,
        "read_model_mismatches": verdict.read_model_mismatches,
        "dead_lettered": verdict.dead_lettered,
        "poison_records_sent": run.poison_sent,
        "stored_events": verdict.stored_events,
        "not_on_topic": verdict.not_on_topic,
        "out_of_order_on_topic": verdict.out_of_order_on_topic,
        "read_models_behind_store": verdict.read_models_behind_store,
        "resent_by_relay": verdict.resent_by_relay,
        "committed_without_an_answer": verdict.committed_without_answer,
        "manual_repairs": 0,
        "audit": verdict.audit,
        # `audit compare` after every fault (quiesced) and once at the end; each fault's own is in `recovery`
        "compare_mismatches": verdict.compare_mismatches
        + sum(max(r.compare_mismatches, 0) for r in run.recoveries),
        "compare_runs": 1 + sum(r.compare_mismatches >= 0 for r in run.recoveries),
        "compare_mismatches_at_the_end": verdict.compare_mismatches,
        "requests": run.workload.attempts,
        "retried_requests": run.workload.retries,
        "unplanned_restarts": run.services.unplanned_restarts,
        "faults": len(run.recoveries),
        "recovery": [asdict(r) for r in run.recoveries],
        "recovery_max_s": max((r.recovery_s for r in run.recoveries), default=0),
        "seconds": round(time.monotonic() - started, 1),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():  # figures other fault tests keep here (test_restore.py: "restore")
        kept = json.loads(path.read_text())
        report = {**{k: v for k, v in kept.items() if k not in report and k == "restore"}, **report}
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    return report


@pytest.mark.skipif(FULL, reason="the full run (VANTHU_FAULTS) covers this")
async def test_quick_each_service_killed_once_and_poison_on_the_topic(
    settings: Settings, database: str, new_topic: Callable[..., str], bootstrap: str
) -> None:
    started = time.monotonic()
    s = api_settings(settings, database, new_topic(settings.partitions, prefix="faults"), bootstrap)
    services = Services.for_settings(s)
    services.start_all()
    run = Run(services, Workload(s, services.base_url, seed=1, clients=3), random.Random(1))
    try:
        plan: list[Callable[[], Awaitable[None]]] = [lambda n=n: run.kill(n) for n in PROCESSES]
        plan.insert(1, lambda: run.poison(20))
        await _chaos(run, plan)
        await settle(s)
        verdict = await verify(s, run.workload.acks, run.poison_sent)
    finally:
        services.stop_all()
    from tests.toolkit.processes import LOGS

    _report(LOGS / "faults-quick.json", verdict, run, started, "quick")
    _check(verdict, run)


@pytest.mark.faults
@pytest.mark.timeout(2400)  # 23 faults, each followed by a quiesced `audit compare`, on a shared machine
async def test_full_kills_broker_and_postgres_restarts_and_poison_lose_nothing(private_stack: Any) -> None:
    started = time.monotonic()
    stack = private_stack
    s = api_settings(stack.settings, stack.settings.dsn, stack.settings.events_topic, stack.cluster_bootstrap)
    services = Services.for_settings(s)
    services.start_all()
    rng = random.Random(int(os.environ.get("VANTHU_FAULTS_SEED", "8")))
    run = Run(services, Workload(s, services.base_url, seed=rng.randrange(1 << 30), clients=4), rng)

    async def broker_down_and_back() -> None:
        node = rng.choice([1, 2, 3])

        async def inject() -> None:
            await asyncio.to_thread(stack.cluster[node - 1].managed.kill)
            await asyncio.sleep(rng.uniform(5, 10))  # the cluster serves on with two of three

        async def restore() -> None:
            await asyncio.to_thread(stack.start_broker, node)

        await run.fault("broker-stopped", f"kafka-{node} of 3", inject, restore)

    async def kafka_restart() -> None:
        from deploy import kafka

        async def inject() -> None:
            for node in stack.cluster:
                await asyncio.to_thread(node.managed.stop, 30)

        async def restore() -> None:
            def up() -> None:
                cid = kafka.cluster_id_for(stack.settings.data_dir / "cluster")
                for node in stack.cluster:
                    node.start(cid, replication=3)
                for node in stack.cluster:
                    node.wait_listening()
                kafka.wait_serving(stack.cluster_bootstrap)

            await asyncio.to_thread(up)

        await run.fault("kafka-restart", "all 3 brokers", inject, restore)

    async def postgres_restart() -> None:
        async def inject() -> None:
            await asyncio.to_thread(stack.postgres.kill)

            async def gone() -> bool:  # `up` right after the kill finds the dying postmaster "running"
                return not await asyncio.to_thread(stack.postgres.running)

            await wait_until(gone, 60, "the killed postmaster to exit", every=0.2, ignoring=(OSError,))

        async def restore() -> None:
            await asyncio.to_thread(stack.postgres.up)

        await run.fault("postgres-killed", "postgres", inject, restore)

    kills: list[Callable[[], Awaitable[None]]] = [
        lambda n=n: run.kill(n) for n in PROCESSES for _ in range(5)
    ]
    rng.shuffle(kills)
    poison: list[Callable[[], Awaitable[None]]] = [lambda: run.poison(20) for _ in range(5)]
    plan = kills + poison
    rng.shuffle(plan)
    for i, step in enumerate((broker_down_and_back, kafka_restart, postgres_restart)):
        plan.insert(5 + i * 7, step)
    try:
        await _chaos(run, plan)
        await settle(s)
        verdict = await verify(s, run.workload.acks, run.poison_sent)
    finally:
        services.stop_all()
    report = _report(HERE / "results.json", verdict, run, started, "full")
    print(json.dumps(report, indent=2))
    _check(verdict, run)
