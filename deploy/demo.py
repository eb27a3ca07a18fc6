"""Demo data for `make run`: today's city, with its history across the change of 1 July 2025.

From January 2025 the city office and its 22 district offices work; on 30 June 2025 the districts close
(a recorded act each) and hand their open documents over to their successors; from 1 July the city office,
the 168 commune-level committees and the committees of city agencies work, the city now and then issuing
a directive to every committee at once. Written through the write side's `handle` with `now` set to
moments of the past, so the history, deadlines (some missed, some still open past due), numbers and hash
chains are real. Seeds only an empty store; deterministic for a given seed.
"""

from __future__ import annotations

import asyncio
import copy
import random
import sys
import time
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from deploy.city import CLOSED_ON, successors
from deploy.config.db import create_pool
from deploy.config.offices import Office, Offices, load_offices
from deploy.config.settings import Settings
from deploy.samples import SampleCA, make_pdf
from producers import files as records
from producers.acts import set_term
from producers.closing import close_office
from producers.errors import VersionConflict
from producers.filestore import FileStore, file_store, spool
from producers.handler import HandleRequest, handle
from producers.store import load
from schemas.acts import CloseOffice, SetTerm
from schemas.envelope import Actor
from schemas.parsing import parse_action, parse_create

SENDERS = [
    "Ban Chấp hành Trung ương",
    "Ban Bí thư",
    "Văn phòng Trung ương Đảng",
    "Ban Tổ chức Trung ương",
    "Ban Tuyên giáo và Dân vận Trung ương",
    "Ủy ban Kiểm tra Trung ương",
    "Ủy ban nhân dân Thành phố Hồ Chí Minh",
    "Sở Nội vụ Thành phố Hồ Chí Minh",
    "Sở Tài chính Thành phố Hồ Chí Minh",
    "Mặt trận Tổ quốc Việt Nam Thành phố Hồ Chí Minh",
]
SUMMARIES = [
    "Về việc triển khai thực hiện Nghị quyết Đại hội đại biểu Đảng bộ Thành phố lần thứ XII",
    "Về việc rà soát, bổ sung quy hoạch cán bộ lãnh đạo, quản lý nhiệm kỳ 2025 - 2030",
    "Về việc tổ chức hội nghị sơ kết 6 tháng đầu năm công tác xây dựng Đảng",
    "Về việc báo cáo tình hình thực hiện Chỉ thị số 05-CT/TW về học tập và làm theo tư tưởng Hồ Chí Minh",
    "Về việc chuẩn bị nội dung kỳ họp Ban Thường vụ Thành ủy tháng này",
    "Về việc tăng cường công tác phòng, chống tham nhũng, tiêu cực",
    "Về việc triển khai chuyển đổi số trong các cơ quan Đảng",
    "Về việc tổ chức các hoạt động kỷ niệm ngày thành lập Đảng Cộng sản Việt Nam",
    "Về việc kiểm tra, giám sát việc thực hiện quy chế làm việc",
    "Về việc lấy ý kiến góp ý dự thảo văn kiện trình Đại hội",
    "Về việc thực hiện chế độ thông tin, báo cáo định kỳ",
    "Về việc sắp xếp tổ chức bộ máy tinh gọn, hoạt động hiệu lực, hiệu quả",
    "Về việc công tác phát triển đảng viên trong khu vực kinh tế tư nhân",
    "Về việc tổng kết công tác văn thư, lưu trữ năm và phương hướng năm tới",
    "Về việc giải quyết đơn thư khiếu nại, tố cáo liên quan đến đảng viên",
    "Về việc phối hợp tổ chức tiếp xúc cử tri",
    "Về việc báo cáo kết quả thực hiện nhiệm vụ chính trị quý",
    "Về việc triển khai Quy định về công tác bảo vệ bí mật nhà nước",
    "Về việc đôn đốc thực hiện các kết luận của Thường trực Thành ủy",
    "Về việc hướng dẫn nghiệp vụ công tác đảng viên",
]
TASKS = [
    "Tổng hợp báo cáo tình hình giải quyết văn bản đến quý",
    "Chuẩn bị tài liệu hội nghị Ban Chấp hành Đảng bộ",
    "Rà soát danh mục hồ sơ lưu trữ năm",
    "Theo dõi, đôn đốc các đơn vị thực hiện kết luận kiểm tra",
    "Xây dựng kế hoạch chuyển đổi số của cơ quan",
]
AUTHORS = ["TW", "VPTW", "BTCTW", "UBND"]
TYPES = ["CV", "CV", "CV", "TB", "KH", "BC", "HD", "QD", "CT", "KL", "CTr", "QC"]
DEMO_TERM = SetTerm(starts_on=date(2025, 10, 16), label="Nhiệm kỳ 2025–2030")
DEMO_TERM_SET_AT = datetime(2025, 10, 16, 2, 0, tzinfo=UTC)
SIGNER = {"signer_name": "Nguyễn Văn Minh", "signer_position": "Phó Bí thư", "authority": "T/M"}
SEEDING_AT_ONCE = 4  # documents written at the same time
HISTORY_FROM = datetime(2025, 1, 2, 1, 0, tzinfo=UTC)  # the demo's first day, half a year before the change
CLOSE_AT = datetime(2025, 6, 30, 9, 0, tzinfo=UTC)  # 16:00 in Hồ Chí Minh City, the districts' last day
BASIS = "Nghị quyết 1685/NQ-UBTVQH15 ngày 16/6/2025; Quyết định của Ban Thường vụ Thành ủy"
DIRECTIVES = [  # issued by the city office to every committee at once
    (datetime(2025, 7, 2, 2, 0, tzinfo=UTC), "Về việc vận hành mô hình chính quyền địa phương hai cấp"),
    (datetime(2025, 9, 15, 2, 0, tzinfo=UTC), "Về việc lãnh đạo tổ chức đại hội đảng bộ cấp xã"),
    (datetime(2026, 3, 10, 2, 0, tzinfo=UTC), "Về việc sơ kết công tác xây dựng Đảng quý I năm 2026"),
]


@dataclass
class Doc:
    id: str
    kind: str
    office: Office
    version: int = 0


def demo_ca(settings: Settings) -> SampleCA:
    """The demo's CA (kept under the data folder): it signs the demo PDFs, and `make run` trusts it."""
    return SampleCA.load_or_create(settings.data_dir / "demo-ca", "vanthu Demo Root CA")


def ascii_text(text: str) -> str:
    """Vietnamese without its marks, for the demo PDFs' standard font (search ignores marks anyway)."""
    plain = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return (
        "".join(c for c in plain if not unicodedata.combining(c))
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


class Seeder:
    def __init__(
        self,
        pool: asyncpg.Pool[Any],
        directory: Offices,
        rng: random.Random,
        now: datetime,
        files: FileStore | None = None,
        ca: SampleCA | None = None,
    ) -> None:
        self.pool, self.directory, self.rng, self.now = pool, directory, rng, now
        self.offices: list[Office] = list(directory)
        self.tally = {"events": 0}  # shared by the forks
        self.files, self.ca = files, ca
        self.closing: dict[str, list[str]] = {}  # the offices that close at CLOSE_AT, and their successors

    async def pdf(self, office: Office, lines: list[str], name: str, role: str, signed: bool) -> list[Any]:
        """A small real PDF stored and attachable by `office` (signed by the demo CA when asked)."""
        if self.files is None:
            return []
        data = make_pdf(*(ascii_text(line) for line in lines))
        if signed and self.ca is not None:
            data = await asyncio.to_thread(self.ca.sign, data)  # pyHanko signs on a loop of its own

        async def body() -> Any:
            yield data

        spooled = await spool(body(), self.files.spool_dir, len(data))
        async with self.pool.acquire() as conn:
            await records.record_upload(
                conn, spooled.sha256, spooled.size, "application/pdf", name, f"clerk@{office.id}", office.id
            )
            await records.attach(conn, [spooled.sha256], office.id)
        await self.files.put(spooled)
        return [
            {
                "sha256": spooled.sha256,
                "name": name,
                "media_type": "application/pdf",
                "size": len(data),
                "role": role,
            }
        ]

    @property
    def events(self) -> int:
        return self.tally["events"]

    def fork(self, seed_value: int) -> Seeder:
        """The same seeder with a random source of its own: documents seeded at once stay deterministic."""
        other = copy.copy(self)
        other.rng = random.Random(seed_value)
        return other

    def actor(self, office: Office, role: str) -> Actor:
        return Actor(user=f"{role}@{office.id}", office=office.id, roles=(role,))

    async def create(self, office: Office, body: dict[str, Any], role: str, at: datetime) -> Doc:
        doc = Doc(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), body["kind"], office)
        request = HandleRequest(
            parse_create(body), document_id=doc.id, expected_version=0, actor=self.actor(office, role), now=at
        )
        res = await handle(self.pool, request, self.directory)
        doc.version = res.state.version
        self.tally["events"] += len(res.events)
        return doc

    def open_at(self, at: datetime) -> list[Office]:
        """The offices at work at an instant: opened by then, and not closed."""
        day = at.date()
        return [
            o
            for o in self.offices
            if (o.opened_on is None or o.opened_on <= day) and not (o.id in self.closing and at >= CLOSE_AT)
        ]

    async def act(self, doc: Doc, role: str, at: datetime, action: str, **params: Any) -> bool:
        if at > self.now:
            return False  # the future has not happened yet
        if doc.office.id in self.closing and at >= CLOSE_AT:
            return False  # the office has closed: its successor takes the document over
        command = parse_action(doc.kind, {"action": action, **params})
        try:
            request = HandleRequest(
                command,
                document_id=doc.id,
                expected_version=doc.version,
                actor=self.actor(doc.office, role),
                now=at,
            )
            res = await handle(self.pool, request, self.directory)
        except VersionConflict as exc:
            doc.version = exc.current_version
            return False
        doc.version = res.state.version
        self.tally["events"] += len(res.events)
        return True

    def later(self, at: datetime, min_h: float, max_h: float) -> datetime:
        return at + timedelta(hours=self.rng.uniform(min_h, max_h))

    async def incoming(self, office: Office, start: datetime) -> None:
        rng = self.rng
        secret = rng.random() < 0.08
        body: dict[str, Any] = {
            "kind": "incoming",
            "office_id": office.id,
            "issuing_body": rng.choice(SENDERS),
            "number_code": f"{rng.randint(1, 999)}-{rng.choice(TYPES)}/{rng.choice(AUTHORS)}",
            "document_date": (start - timedelta(days=rng.randint(1, 4))).date().isoformat(),
            "document_type": rng.choice(TYPES),
            "summary": rng.choice(SUMMARIES),
            "urgency": rng.choice(["thuong"] * 6 + ["khan", "thuong_khan", "hoa_toc"]),
            "secrecy": "mat" if secret else "thuong",
        }
        # most arrive as signed PDFs; some as scans of paper (PDFs without a signature)
        if rng.random() < 0.7:
            signed = rng.random() < 0.8
            lines = [body["issuing_body"], body["number_code"], body["summary"], "Noi dung van ban (demo)."]
            role = "original" if signed else "scan"
            body["attachments"] = await self.pdf(
                office, lines, f"{body['number_code']}.pdf".replace("/", "-"), role, signed
            )
        doc = await self.create(office, body, "clerk", start)
        t = self.later(start, 0.2, 3)
        if not await self.act(doc, "clerk", t, "register"):
            return
        t = self.later(t, 0.5, 8)
        if not await self.act(doc, "clerk", t, "submit"):
            return
        t = self.later(t, 1, 24)
        if rng.random() < 0.15:
            await self.act(doc, "leader", t, "mark_for_info")
            return
        unit = rng.choice(office.units).id if office.units else None
        lead = {"unit": unit} if unit else {"user": f"specialist@{office.id}"}
        days = rng.choice([3, 5, 5, 7, 10, 15])
        directive = rng.choice(
            ["Đề nghị chủ trì tham mưu, báo cáo kết quả.", "Nghiên cứu, đề xuất.", "Triển khai thực hiện."]
        )
        assign = {"lead": lead, "cooperating": [], "directive": directive, "deadline": {"working_days": days}}
        if not await self.act(doc, "leader", t, "assign", **assign):
            return
        t = self.later(t, 2, 48)
        if not await self.act(doc, "specialist", t, "start"):
            return
        if rng.random() < 0.25:  # left open: some will be overdue by now
            await self.act(
                doc, "specialist", self.later(t, 4, 72), "report_progress", percent=50, note="Đang xử lý"
            )
            return
        on_time = rng.random() < 0.75
        t = self.later(t, 24, 24 * days * (1.0 if on_time else 2.2))
        result = rng.choice(
            ["Đã tham mưu văn bản trả lời.", "Đã báo cáo lãnh đạo.", "Đã triển khai thực hiện."]
        )
        if not await self.act(doc, "specialist", t, "complete", result=result):
            return
        await self.act(
            doc, "clerk", self.later(t, 24, 240), "file", dossier=f"HS-{start.year}-{rng.randint(1, 40):02d}"
        )

    async def outgoing(self, office: Office, start: datetime, to_all: str | None = None) -> None:
        rng = self.rng
        body: dict[str, Any] = {
            "kind": "outgoing",
            "office_id": office.id,
            "document_type": "CT" if to_all else rng.choice(TYPES),
            "summary": to_all or rng.choice(SUMMARIES),
            "urgency": rng.choice(["thuong"] * 4 + ["khan"]),
            "secrecy": "mat" if rng.random() < 0.05 else "thuong",
        }
        if to_all:
            body["secrecy"], body["urgency"] = "thuong", "khan"
        if rng.random() < 0.6:  # the signed original travels with each electronic copy when issued
            lines = [office.name, str(body["summary"]), "Ban chinh da ky so (demo)."]
            body["attachments"] = await self.pdf(office, lines, "van-ban.pdf", "original", True)
        doc = await self.create(office, body, "specialist", start)
        t = self.later(start, 1, 24)
        if not await self.act(doc, "specialist", t, "submit_review"):
            return
        t = self.later(t, 1, 24)
        if rng.random() < 0.2:
            await self.act(doc, "leader", t, "review", approve=False, comments="Đề nghị bổ sung số liệu.")
            t = self.later(t, 2, 24)
            await self.act(doc, "specialist", t, "submit_review")
            t = self.later(t, 1, 24)
        if not await self.act(doc, "leader", t, "review", approve=True, comments=""):
            return
        t = self.later(t, 0.5, 8)
        if not await self.act(doc, "leader", t, "sign", **SIGNER):
            return
        t = self.later(t, 0.5, 6)
        others = [o.id for o in self.open_at(t) if o.id != office.id]  # no delivery to a closed office
        recipients = rng.sample(others, k=rng.randint(1, 4)) if body["secrecy"] == "thuong" else []
        if to_all:
            recipients = [o for o in others if self.directory[o].parent_id == office.id]
        await self.act(doc, "clerk", t, "issue", recipients=recipients)

    async def close_districts(self, conn: Any) -> int:
        """The district offices close at CLOSE_AT; their successors carry on some of what they took over."""
        admin = self.actor(self.directory["tu-hcm"], "admin")
        handed = 0
        for office_id, names in self.closing.items():
            closing = CloseOffice(closed_on=CLOSED_ON, successors=tuple(names), basis=BASIS)
            closed = await close_office(conn, office_id, closing, admin, CLOSE_AT, self.directory)
            handed += len(closed.handed_over)
            successor = self.directory[names[0]]
            for document_id in closed.handed_over:
                state = (await load(conn, document_id)).state
                doc = Doc(
                    document_id, state.kind.value if state.kind else "incoming", successor, state.version
                )
                at = self.later(CLOSE_AT, 24, 24 * 30)
                if doc.kind == "incoming" and state.state.value == "submitted":
                    # work the district had assigned waits for the successor's leader (its units now)
                    if self.rng.random() < 0.7:
                        await self.carry_on(doc, successor, at)
                elif state.state.value in ("received", "registered") and self.rng.random() < 0.5:
                    await self.act(
                        doc, "clerk", at, "register" if state.state.value == "received" else "submit"
                    )
        return handed

    async def carry_on(self, doc: Doc, office: Office, at: datetime) -> None:
        """The successor's leader assigns a handed-over document to one of its units, which handles it."""
        lead = {"unit": office.units[0].id} if office.units else {"user": f"specialist@{office.id}"}
        deadline = {"working_days": self.rng.choice([5, 10])}
        assign = {"lead": lead, "cooperating": [], "directive": "Tiếp tục xử lý.", "deadline": deadline}
        if not await self.act(doc, "leader", at, "assign", **assign):
            return
        at = self.later(at, 2, 48)
        if await self.act(doc, "specialist", at, "start") and self.rng.random() < 0.7:
            await self.act(doc, "specialist", self.later(at, 24, 200), "complete", result="Đã xử lý.")

    async def task(self, office: Office, start: datetime) -> None:
        rng = self.rng
        body = {"kind": "task", "office_id": office.id, "title": rng.choice(TASKS), "description": ""}
        doc = await self.create(office, body, "leader", start)
        unit = rng.choice(office.units).id if office.units else None
        lead = {"unit": unit} if unit else {"user": f"specialist@{office.id}"}
        t = self.later(start, 1, 12)
        assign = {
            "lead": lead,
            "cooperating": [],
            "directive": "",
            "deadline": {"working_days": rng.choice([5, 10])},
        }
        if not await self.act(doc, "leader", t, "assign", **assign):
            return
        if rng.random() < 0.5:
            await self.act(doc, "specialist", self.later(t, 24, 200), "complete", result="Hoàn thành.")


async def seed(settings: Settings, documents: int = 600, seed_value: int = 2026, quiet: bool = False) -> int:
    """Seed `documents` documents from January 2025 to now into an empty store; returns events written."""
    pool = await create_pool(settings.app_dsn, min_size=1, max_size=SEEDING_AT_ONCE + 2)
    try:
        if await pool.fetchval("SELECT EXISTS (SELECT 1 FROM events)"):
            if not quiet:
                print("[vanthu] demo data: the store already has events; not seeding", flush=True)
            return 0
        directory = load_offices(settings.offices_file)
        city = next(o for o in directory if o.parent_id is None)
        rng = random.Random(seed_value)
        now = datetime.now(UTC)
        seeder = Seeder(pool, directory, rng, now, file_store(settings), demo_ca(settings))
        seeder.closing = {d: names for d, names in successors().items() if d in directory}
        began = time.monotonic()

        def say(what: str) -> None:
            if not quiet:
                print(f"[vanthu] demo data: {what} ({time.monotonic() - began:.1f}s)", flush=True)

        async with pool.acquire() as conn:  # số đi of each type starts at 01 in the 2025–2030 term
            for office in seeder.open_at(DEMO_TERM_SET_AT):
                admin = Actor(user=f"admin@{office.id}", office=office.id, roles=("admin",))
                await set_term(conn, office.id, DEMO_TERM, admin, DEMO_TERM_SET_AT)
        say(f"the 2025–2030 term set in {len(seeder.open_at(DEMO_TERM_SET_AT))} offices")
        first = min(HISTORY_FROM, now - timedelta(days=365))
        span = (now - first).total_seconds()
        starts = sorted(first + timedelta(seconds=rng.uniform(0, span)) for _ in range(documents))
        directives = [(at, summary) for at, summary in DIRECTIVES if at < now]
        plan = sorted([(at, "", None) for at in starts] + [(at, "all", s) for at, s in directives])
        seeds = [rng.getrandbits(64) for _ in plan]
        done = 0
        gate = asyncio.Semaphore(SEEDING_AT_ONCE)

        async def one(start: datetime, what: str, summary: str | None, seed_of: int) -> None:
            nonlocal done
            async with gate:
                forked = seeder.fork(seed_of)
                if what == "all":
                    await forked.outgoing(city, start, to_all=summary)
                else:  # the city office carries more weight than any single committee
                    others = [o for o in forked.open_at(start) if o is not city]
                    office = city if forked.rng.random() < 0.3 else forked.rng.choice(others)
                    roll = forked.rng.random()
                    if roll < 0.6:
                        await forked.incoming(office, start)
                    elif roll < 0.85:
                        await forked.outgoing(office, start)
                    else:
                        await forked.task(office, start)
            done += 1
            if done % 100 == 0 or done == len(plan):
                say(f"{done}/{len(plan)} documents, {seeder.events} events")

        # Documents are independent of each other: a few at a time, the districts' before they close.
        items = [(at, what, summary, n) for (at, what, summary), n in zip(plan, seeds, strict=True)]
        await asyncio.gather(*(one(*item) for item in items if item[0] < CLOSE_AT))
        async with pool.acquire() as conn:
            handed = await seeder.close_districts(conn)
        say(f"{len(seeder.closing)} district offices closed on {CLOSED_ON}, {handed} documents handed over")
        await asyncio.gather(*(one(*item) for item in items if item[0] >= CLOSE_AT))
        return seeder.events
    finally:
        await pool.close()


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    asyncio.run(seed(Settings.from_env(), n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
