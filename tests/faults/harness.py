"""The fault harness: the system's processes under a supervisor, a steady mixed workload through the API
that records every acknowledged action, poison records for the events topic, and the checks that say
whether anything was lost, duplicated or left behind."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from api.auth import issue_token
from deploy.config.offices import load_offices
from deploy.config.settings import Settings
from tests.e2e.conftest import LOGS, Process, free_port

PROCESSES = ("relay", "processor", "api")


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Services:
    """Relay, processor and API as real processes, restarted when they die unless held down on purpose
    (what a service manager with Restart=always does); those unplanned restarts are counted."""

    settings: Settings  # pg_dsn, events_topic, kafka_bootstrap, api_port set
    group: str
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processes: dict[str, Process] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    unplanned_restarts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROCESSES, 0))

    @classmethod
    def for_settings(cls, settings: Settings) -> Services:
        return cls(settings, group=f"faults-{uuid.uuid4().hex[:8]}")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    def env(self) -> dict[str, str]:
        s = self.settings
        return dict(
            os.environ,
            VANTHU_PG_DSN=s.dsn,
            VANTHU_KAFKA_BOOTSTRAP=s.bootstrap,
            VANTHU_EVENTS_TOPIC=s.events_topic,
            VANTHU_API_PORT=str(s.api_port),
            VANTHU_PROCESSOR_GROUP=self.group,
            VANTHU_PROCESSOR_INSTANCE_ID=f"{self.group}-1",  # static membership: a restart rejoins at once
            VANTHU_PROCESSOR_SESSION_TIMEOUT="6",
            VANTHU_PROCESSOR_CHASE_INTERVAL="5",
        )

    def argv(self, name: str) -> list[str]:
        py = sys.executable
        if name == "relay":
            return [py, "-m", "producers.relay"]
        if name == "processor":
            return [py, "-m", "processors.worker"]
        port = str(self.settings.api_port)
        return [py, "-m", "uvicorn", "api.app:app", "--host", "127.0.0.1", "--port", port, "--no-access-log"]

    def start(self, name: str) -> None:
        p = self.processes.get(name) or Process(
            name, self.argv(name), self.env(), LOGS / f"faults-{self.run}-{name}.log"
        )
        self.processes[name] = p
        p.start()
        self.held.discard(name)

    def start_all(self) -> None:
        for name in PROCESSES:
            self.start(name)
        self.wait_api()

    def wait_api(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if _http_ok(f"{self.base_url}/healthz"):
                return
            time.sleep(0.05)
        raise AssertionError(f"the API did not answer within {within}s; see {self.processes['api'].log}")

    def kill(self, name: str) -> None:
        """SIGKILL, and keep it down until `start`."""
        self.held.add(name)
        self.processes[name].kill()

    def stop_all(self) -> None:
        self.held.update(PROCESSES)
        for p in reversed(list(self.processes.values())):
            p.stop()

    async def supervise(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for name, p in self.processes.items():
                if name not in self.held and p.proc is not None and p.proc.poll() is not None:
                    self.unplanned_restarts[name] += 1
                    p.start()
            await _sleep(stop, 0.2)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


# ---------------------------------------------------------------------------------------------------
# the workload


@dataclass(frozen=True)
class Ack:
    key: str  # the Idempotency-Key as stored: "<user>\x1f<key>"
    document_id: str
    version: int
    action: str
    position: int


@dataclass
class Workload:
    """Clients that create documents and take them through their lives, as offices would. Every write
    carries an Idempotency-Key and is retried with the same key until it gets an answer that is not 5xx
    and not a broken connection — what a careful client does while servers die under it."""

    settings: Settings
    base_url: str
    seed: int = 8
    clients: int = 4
    acks: list[Ack] = field(default_factory=list)
    attempts: int = 0
    retries: int = 0
    refused: list[str] = field(default_factory=list)  # 4xx the workload did not expect
    gave_up: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        offices = load_offices(self.settings.offices_file).to_list()
        self.offices = [o["id"] for o in offices][:6]
        self.units = {o["id"]: [u["id"] for u in o["units"]] for o in offices}

    def token(self, office: str, role: str, user: str | None = None) -> dict[str, str]:
        t = issue_token(self.settings, office=office, roles=[role], user=user or f"{role}.{office}")
        return {"Authorization": f"Bearer {t}"}

    async def write(
        self, http: httpx.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any], **kw: Any
    ) -> dict[str, Any] | None:
        """POST with a fresh Idempotency-Key, retried with it; the document on 2xx (recorded), else None."""
        key = uuid.uuid4().hex
        user = headers["_user"]
        hdrs = {k: v for k, v in headers.items() if k != "_user"} | {"Idempotency-Key": key, **kw}
        deadline = time.monotonic() + 180
        conflicts = 0
        while time.monotonic() < deadline:
            self.attempts += 1
            try:
                resp = await http.post(path, json=body, headers=hdrs)
            except httpx.HTTPError:
                self.retries += 1
                await asyncio.sleep(0.2)
                continue
            if resp.status_code >= 500:
                self.retries += 1
                await asyncio.sleep(0.2)
                continue
            if resp.status_code == 409 and "If-Match" in hdrs and conflicts < 5:
                # the system appended to the document meanwhile (deadline chasing, delivery records): a
                # client reloads and tries again at the current version, with the same key
                conflicts += 1
                hdrs["If-Match"] = f'"{resp.json()["current_version"]}"'
                continue
            if resp.status_code >= 300:
                self.refused.append(f"{path} {body.get('action', 'create')}: {resp.status_code} {resp.text}")
                return None
            doc: dict[str, Any] = resp.json()
            position = int(resp.headers["x-vanthu-position"])
            action = str(body.get("action") or f"create-{body.get('kind')}")
            self.acks.append(Ack(f"{user}\x1f{key}", doc["id"], doc["version"], action, position))
            return doc
        self.gave_up += 1
        return None

    def as_user(self, office: str, role: str) -> dict[str, str]:
        user = f"{role}.{office}"
        return {**self.token(office, role, user), "_user": user}

    async def act(
        self, http: httpx.AsyncClient, who: dict[str, str], doc: dict[str, Any] | None, action: str, **p: Any
    ) -> dict[str, Any] | None:
        if doc is None:
            return None
        return await self.write(
            http,
            who,
            f"/v1/documents/{doc['id']}/actions",
            {"action": action, **p},
            **{"If-Match": f'"{doc["version"]}"'},
        )

    async def incoming(self, http: httpx.AsyncClient, office: str) -> None:
        clerk, leader = self.as_user(office, "clerk"), self.as_user(office, "leader")
        specialist = self.as_user(office, "specialist")
        n = self.rng.randrange(1, 10_000)
        doc = await self.write(
            http,
            clerk,
            "/v1/documents",
            {
                "kind": "incoming",
                "office_id": office,
                "issuing_body": "Văn phòng Trung ương Đảng",
                "number_code": f"{n}-CV/VPTW",
                "document_date": date.today().isoformat(),
                "document_type": "CV",
                "summary": f"Về việc kiểm tra công tác văn thư số {n}",
                "urgency": self.rng.choice(["thuong", "khan", "thuong_khan", "hoa_toc"]),
                "secrecy": "thuong",
                "attachments": [],
            },
        )
        doc = await self.act(http, clerk, doc, "register")
        doc = await self.act(http, clerk, doc, "submit")
        unit = self.rng.choice(self.units[office])
        doc = await self.act(
            http, leader, doc, "assign", lead={"unit": unit}, directive="", deadline={"working_days": 5}
        )
        doc = await self.act(http, specialist, doc, "start")
        doc = await self.act(http, specialist, doc, "report_progress", percent=50, note="Đang xử lý")
        await self.act(http, specialist, doc, "complete", result="Đã xử lý")

    async def outgoing(self, http: httpx.AsyncClient, office: str) -> None:
        specialist, leader = self.as_user(office, "specialist"), self.as_user(office, "leader")
        clerk = self.as_user(office, "clerk")
        doc = await self.write(
            http,
            specialist,
            "/v1/documents",
            {
                "kind": "outgoing",
                "office_id": office,
                "document_type": "CV",
                "summary": "Về việc báo cáo tình hình tháng",
                "urgency": "thuong",
                "secrecy": "thuong",
            },
        )
        doc = await self.act(http, specialist, doc, "submit_review")
        doc = await self.act(http, leader, doc, "review", approve=True, comments="")
        doc = await self.act(http, leader, doc, "sign")
        recipients = self.rng.sample([o for o in self.offices if o != office], 2)
        await self.act(http, clerk, doc, "issue", recipients=recipients)

    async def task(self, http: httpx.AsyncClient, office: str) -> None:
        leader, specialist = self.as_user(office, "leader"), self.as_user(office, "specialist")
        doc = await self.write(
            http,
            leader,
            "/v1/documents",
            {
                "kind": "task",
                "office_id": office,
                "title": "Tổng hợp số liệu",
                "description": "Theo kế hoạch",
            },
        )
        doc = await self.act(
            http, leader, doc, "assign", lead={"user": specialist["_user"]}, deadline={"working_days": 3}
        )
        doc = await self.act(http, specialist, doc, "report_progress", percent=30, note="Đang làm")
        await self.act(http, specialist, doc, "complete", result="Xong")

    async def client(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=20) as http:
            while not stop.is_set():
                office = self.rng.choice(self.offices)
                life = self.rng.choice([self.incoming, self.incoming, self.outgoing, self.task])
                await life(http, office)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self.client(stop) for _ in range(self.clients)))

    async def probe(self, within: float = 240) -> float:
        """Seconds until a new write is acknowledged and visible in the read models (read-your-writes)."""
        started = time.monotonic()
        who = self.as_user(self.offices[0], "leader")
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as http:
            doc = None
            while doc is None:
                doc = await self.write(
                    http,
                    who,
                    "/v1/documents",
                    {"kind": "task", "office_id": self.offices[0], "title": "Thăm dò", "description": ""},
                )
                if time.monotonic() - started > within:
                    raise AssertionError(f"no write was acknowledged within {within}s")
            position = self.acks[-1].position
            hdrs = {k: v for k, v in who.items() if k != "_user"}
            while time.monotonic() - started < within:
                try:
                    resp = await http.get(f"/v1/documents/{doc['id']}?after={position}", headers=hdrs)
                    if resp.status_code == 200:
                        return time.monotonic() - started
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"position {position} did not reach the read models within {within}s")


# ---------------------------------------------------------------------------------------------------
# poison records


def poison_records(count: int, real_ids: list[str], seed: int = 9) -> list[tuple[bytes | None, bytes | None]]:
    """Malformed, truncated, oversized and unknown-type records (key, value). Those keyed by a real
    document are undecodable, which must not hold that document back; unknown types carry ids of their
    own (an unknown event for a real document would rightly stop it until someone looks)."""
    rng = random.Random(seed)
    sample = {
        "event_id": str(uuid.uuid4()),
        "stream_id": "x",
        "version": 1,
        "type": "DocumentReceived",
        "schema_version": 1,
        "occurred_at": "2026-11-20T01:02:03.000000Z",
        "actor": {"user": "mallory", "office": "tu-hcm", "roles": ["clerk"]},
        "causation_id": None,
        "correlation_id": None,
        "idempotency_key": None,
        "data": {"office_id": "tu-hcm"},
    }
    out: list[tuple[bytes | None, bytes | None]] = []
    for i in range(count):
        key = rng.choice(real_ids).encode() if real_ids and i % 2 else f"poison-{uuid.uuid4()}".encode()
        whole = json.dumps({**sample, "stream_id": key.decode()}).encode()
        match i % 10:
            case 0:
                value: bytes | None = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
            case 1:
                value = whole[: rng.randrange(1, len(whole) - 1)]  # truncated
            case 2:
                value = b"{" + b"x" * rng.randrange(300_000, 900_000)  # oversized and broken
            case 3:  # oversized, well formed, for a document of its own, with a version gap
                own = f"poison-{uuid.uuid4()}"
                key = own.encode()
                big = {**sample, "stream_id": own, "version": 2, "data": {"summary": "y" * 600_000}}
                value = json.dumps(big).encode()
            case 4:
                value = b"\xff\xfe\x00not utf-8"
            case 5:
                value = json.dumps([1, 2, 3]).encode()
            case 6:
                value = None  # a tombstone
            case 7:
                value = json.dumps({**sample, "version": "one"}).encode()
            case 8:
                value = b'{"a":' * 5000 + b"1" + b"}" * 5000  # deeply nested
            case _:
                own = f"poison-{uuid.uuid4()}"
                key = own.encode()
                value = json.dumps({**sample, "stream_id": own, "type": "DocumentTeleported"}).encode()
        out.append((key, value))
    return out


def send_poison(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> int:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", max_request_size=2 * 1024 * 1024, request_timeout_ms=30000
    )
    try:
        for key, value in records:
            producer.send(topic, key=key, value=value, headers=[("type", b"Poison")]).get(60)
    finally:
        producer.close()
    return len(records)


# ---------------------------------------------------------------------------------------------------
# the checks


async def wait_for(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if await check():
                return
        except (OSError, ConnectionError):
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        return {tp.partition: o for tp, o in c.end_offsets(tps).items()}
    finally:
        c.close()


def topic_events(bootstrap: str, topic: str) -> tuple[dict[str, list[int]], int, dict[tuple[int, int], str]]:
    """Each document's versions in topic order (first occurrences), how many records were resent, and
    the records that did not come from the relay ((partition, offset): a short description)."""
    from kafka import KafkaConsumer, TopicPartition

    from schemas.envelope import Envelope

    ends = end_offsets(bootstrap, topic)
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    seen: dict[str, list[int]] = {}
    resent = 0
    others: dict[tuple[int, int], str] = {}
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        while any(c.position(tp) < ends[tp.partition] for tp in tps):
            for records in c.poll(timeout_ms=500, max_records=5000).values():
                for r in records:
                    if not any(k == "position" for k, _ in r.headers or ()):
                        size = "none" if r.value is None else len(r.value)
                        others[(r.partition, r.offset)] = f"key={r.key!r:.60} size={size} {r.value!r:.60}"
                        continue  # not from the relay (a poison record)
                    env = Envelope.from_json(r.value)
                    versions = seen.setdefault(env.stream_id, [])
                    if env.version in versions:
                        resent += 1
                    else:
                        versions.append(env.version)
    finally:
        c.close()
    return seen, resent, others


@dataclass
class Verdict:
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    read_model_mismatches: int = 0
    dead_lettered: int = 0
    stored_events: int = 0
    not_on_topic: int = 0
    out_of_order_on_topic: int = 0
    resent_by_relay: int = 0
    read_models_behind_store: int = 0
    committed_without_answer: int = 0
    real_documents_dead_lettered: int = 0
    audit_ok: bool = False
    audit: str = ""
    details: list[str] = field(default_factory=list)


async def settle(settings: Settings, within: float = 240) -> None:
    """Wait until the relay has published everything and the processor applied everything, twice over
    (the saga and the chaser write more events as they see earlier ones)."""
    from deploy.config.db import connect

    conn = await connect(settings.dsn)
    try:
        stable = 0
        last: tuple[Any, ...] = ()

        async def quiet() -> bool:
            nonlocal stable, last
            outbox = await conn.fetchval("SELECT count(*) FROM outbox")
            store = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
            applied = await conn.fetchval(
                """SELECT coalesce(sum("offset" + 1), 0) FROM rm.offsets WHERE topic = $1""",
                settings.events_topic,
            )
            ends = await asyncio.to_thread(end_offsets, settings.bootstrap, settings.events_topic)
            now = (outbox, store, applied, sum(ends.values()))
            caught_up = outbox == 0 and applied == sum(ends.values())
            stable = stable + 1 if caught_up and now == last else 0
            last = now
            return stable >= 10  # two seconds without anything new

        await wait_for(quiet, within, "the relay and the processor to catch up")
    finally:
        await conn.close()


async def verify(settings: Settings, acks: list[Ack], poison_sent: int) -> Verdict:
    from deploy.config.db import connect
    from processors.rebuild import differences, rebuild

    v = Verdict(acknowledged=len(acks))
    conn = await connect(settings.dsn)
    try:
        rows = await conn.fetch(
            """SELECT stream_id, version, position,
                      convert_from(body, 'UTF8')::jsonb ->> 'idempotency_key' AS key
               FROM events ORDER BY position"""
        )
        v.stored_events = len(rows)
        by_key: dict[str, list[int]] = {}
        versions: dict[str, set[int]] = {}
        for r in rows:
            versions.setdefault(r["stream_id"], set()).add(r["version"])
            if r["key"]:
                by_key.setdefault(r["key"], []).append(r["version"])
        acked_keys = set()
        for a in acks:
            acked_keys.add(a.key)
            got = sorted(by_key.get(a.key, []))
            if a.version not in versions.get(a.document_id, set()) or not got:
                v.lost += 1
                v.details.append(f"lost: {a.action} on {a.document_id} v{a.version}")
            elif got[-1] != a.version or got != list(range(got[0], got[-1] + 1)):
                v.duplicated += 1
                v.details.append(f"duplicated: {a.action} on {a.document_id}: versions {got}")
        users = {k.partition("\x1f")[0] for k in acked_keys}
        unanswered = {k for k in set(by_key) - acked_keys if k.partition("\x1f")[0] in users}
        v.committed_without_answer = len(unanswered)  # the client gave up on them (none should be)

        topic, resent, others = await asyncio.to_thread(
            topic_events, settings.bootstrap, settings.events_topic
        )
        v.resent_by_relay = resent
        for stream, stored in versions.items():
            on_topic = topic.get(stream, [])
            v.not_on_topic += len(stored - set(on_topic))
            if on_topic != sorted(on_topic):
                v.out_of_order_on_topic += 1
                v.details.append(f"out of order on the topic: {stream} {on_topic}")

        behind = await conn.fetch(
            """SELECT e.stream_id FROM (SELECT stream_id, max(version) AS v FROM events GROUP BY stream_id) e
               LEFT JOIN rm.documents d ON d.id = e.stream_id
               WHERE d.version IS DISTINCT FROM e.v"""
        )
        v.read_models_behind_store = len(behind)
        letters = await conn.fetch('SELECT partition, "offset" FROM rm.dead_letters')
        v.dead_lettered = len(letters)
        for where in set(others) - {(r["partition"], r["offset"]) for r in letters}:
            v.details.append(f"not dead-lettered: {others[where]}")
        v.real_documents_dead_lettered = await conn.fetchval(
            """SELECT count(*) FROM rm.dead_letters d
               WHERE d.reason <> 'undecodable'
                 AND EXISTS (SELECT 1 FROM events e WHERE e.stream_id = d.document_id)"""
        )
        target = f"rm_check_{uuid.uuid4().hex[:8]}"
        await rebuild(settings.dsn, settings.bootstrap, settings.events_topic, target=target, swap=False)
        diff = await differences(conn, "rm", target)
        v.read_model_mismatches = sum(diff.values())
        if diff:
            v.details.append(f"read models differ from a rebuild: {diff}")
        await conn.execute(f"DROP SCHEMA {target} CASCADE")
    finally:
        await conn.close()
    audit = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "deploy.cli", "audit", "verify"],
        env=dict(os.environ, VANTHU_PG_DSN=settings.dsn),
        capture_output=True,
        text=True,
    )
    v.audit_ok = audit.returncode == 0
    v.audit = (audit.stdout + audit.stderr).strip().splitlines()[0] if audit.stdout or audit.stderr else ""
    if poison_sent and v.dead_lettered != poison_sent:
        v.details.append(f"{poison_sent} poison records sent, {v.dead_lettered} dead letters")
    return v


def api_settings(settings: Settings, dsn: str, topic: str, bootstrap: str) -> Settings:
    return settings.with_(pg_dsn=dsn, events_topic=topic, kafka_bootstrap=bootstrap, api_port=free_port())
