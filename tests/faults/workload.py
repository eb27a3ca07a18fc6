"""A steady mixed workload through the API that records every acknowledged action."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.auth import issue_token
from deploy.config.offices import load_offices
from deploy.config.settings import Settings
from tests.toolkit.waiting import wait_until
from tests.unit.lifecycle import create_body


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
        body = create_body(
            "incoming",
            office,
            number_code=f"{n}-CV/VPTW",
            summary=f"Về việc kiểm tra công tác văn thư số {n}",
            urgency=self.rng.choice(["thuong", "khan", "thuong_khan", "hoa_toc"]),
        )
        doc = await self.write(http, clerk, "/v1/documents", body)
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
        doc = await self.write(http, specialist, "/v1/documents", create_body("outgoing", office))
        doc = await self.act(http, specialist, doc, "submit_review")
        doc = await self.act(http, leader, doc, "review", approve=True, comments="")
        doc = await self.act(http, leader, doc, "sign", signer_name="Nguyễn Văn A", signer_position="Bí thư")
        recipients = self.rng.sample([o for o in self.offices if o != office], 2)
        await self.act(http, clerk, doc, "issue", recipients=recipients)

    async def task(self, http: httpx.AsyncClient, office: str) -> None:
        leader, specialist = self.as_user(office, "leader"), self.as_user(office, "specialist")
        doc = await self.write(http, leader, "/v1/documents", create_body("task", office))
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
        hdrs = {k: v for k, v in who.items() if k != "_user"}
        body = create_body("task", self.offices[0], title="Thăm dò")
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as http:
            doc = await wait_until(
                lambda: self.write(http, who, "/v1/documents", body), within, "a write acknowledged", every=0
            )
            position = self.acks[-1].position

            async def visible() -> bool:
                resp = await http.get(f"/v1/documents/{doc['id']}?after={position}", headers=hdrs)
                return resp.status_code == 200

            left = within - (time.monotonic() - started)
            what = f"position {position} to reach the read models"
            await wait_until(visible, left, what, ignoring=(httpx.HTTPError,))
        return time.monotonic() - started
