"""A mixed, deterministic workload of documents across offices, built with the decider (no write side).

Events come out interleaved across documents but in order within each, as the relay publishes them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from schemas.commands import Command, ReceiveDocument
from schemas.decider import DomainError, decide
from schemas.enums import DocumentKind
from schemas.envelope import Actor, Envelope
from schemas.evolve import evolve
from schemas.numbering import numbering_needed, with_number
from schemas.parsing import parse_action, parse_create
from schemas.recording import record
from schemas.state import DocumentState, initial_state
from tests.unit.lifecycle import create_body

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 2/3/2026, 09:00 in Hà Nội
SUMMARIES = [
    "Quyết định về việc thành lập tổ công tác",
    "Về việc chuẩn bị nhân sự đại hội Đảng bộ",
    "Kế hoạch kiểm tra, giám sát năm 2026",
    "Báo cáo tình hình thực hiện nghị quyết",
    "Thông báo kết luận của Thường trực Thành ủy",
    "Hướng dẫn tổ chức sinh hoạt chi bộ",
]
BODIES = ["Ban Tổ chức Thành ủy", "Văn phòng Trung ương Đảng", "Ủy ban Kiểm tra Thành ủy", "Ban Tuyên giáo"]
INCOMING = [
    "register",
    "submit",
    "assign",
    "start",
    "report_progress",
    "request_extension",
    "decide_extension",
    "complete",
    "file",
]
OUTGOING = ["revise", "submit_review", "review", "sign", "issue", "deliver", "archive"]
TASK = ["assign", "report_progress", "complete"]


@dataclass
class _Doc:
    state: DocumentState
    script: list[str]
    actor: Actor


@dataclass
class Workload:
    offices: list[str]
    seed: int = 1
    now: datetime = START
    counters: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    first_number: int = 1  # where every series starts
    _n: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _id(self) -> str:
        self._n += 1
        return str(UUID(int=self.rng.getrandbits(128), version=4))

    def _number(self, command: Command, state: DocumentState) -> Command:
        request = numbering_needed(command, state, self.now)
        if request is None:
            return command
        key = (request.office_id, request.register, request.series, request.period)
        self.counters[key] = self.counters.get(key, self.first_number - 1) + 1
        return with_number(command, self.counters[key], "TU")

    def _apply(self, doc: _Doc, command: Command) -> list[Envelope]:
        command = self._number(command, doc.state)
        envelopes = record(decide(command, doc.state, self.now), doc.state, now=self.now, actor=doc.actor)
        for e in envelopes:
            doc.state = evolve(doc.state, e)
        return envelopes

    def _new(self, kind: DocumentKind, office: str) -> tuple[_Doc, list[Envelope]]:
        rng = self.rng
        secrecy = "mat" if rng.random() < 0.1 else "thuong"
        body: dict[str, Any]
        if kind is DocumentKind.INCOMING:
            body = {
                "kind": "incoming",
                "office_id": office,
                "issuing_body": rng.choice(BODIES),
                "number_code": f"{rng.randint(1, 999)}-CV/BTC",
                "document_date": "2026-02-20",
                "document_type": rng.choice(["CV", "QD", "TB", "KH"]),
                "summary": rng.choice(SUMMARIES),
                "urgency": rng.choice(["thuong", "khan"]),
                "secrecy": secrecy,
            }
            script = INCOMING[: rng.randint(0, len(INCOMING))]
            if rng.random() < 0.05:
                script = ["return"]
        elif kind is DocumentKind.OUTGOING:
            body = {
                "kind": "outgoing",
                "office_id": office,
                "document_type": rng.choice(["CV", "BC", "CT"]),
                "summary": rng.choice(SUMMARIES),
                "urgency": "thuong",
                "secrecy": secrecy,
            }
            script = OUTGOING[: rng.randint(0, len(OUTGOING))]
        else:
            body = {"kind": "task", "office_id": office, "title": rng.choice(SUMMARIES), "description": ""}
            script = TASK[: rng.randint(0, len(TASK))] if rng.random() > 0.1 else ["cancel"]
        if secrecy == "mat" and kind is not DocumentKind.TASK:
            script = ["grant_access", *script]
        actor = Actor(user=f"u-{office}-{rng.randint(1, 5)}", office=office, roles=("clerk", "leader"))
        doc = _Doc(initial_state(self._id()), script, actor)
        return doc, self._apply(doc, parse_create(body))

    def _body(self, doc: _Doc, action: str) -> dict[str, Any]:
        rng = self.rng
        match action:
            case "assign":
                return {
                    "lead": {"unit": f"unit-{rng.randint(1, 4)}"},
                    "cooperating": ["unit-9"],
                    "directive": "Xử lý",
                    "deadline": {"working_days": rng.randint(1, 10)},
                }
            case "report_progress":
                return {"percent": rng.randint(10, 90), "note": "Đang làm"}
            case "request_extension":
                return {"deadline": {"working_days": 20}, "reason": "Cần thêm thời gian"}
            case "decide_extension":
                return {"approve": rng.random() < 0.7, "note": ""}
            case "complete":
                return {"result": "Đã xử lý"}
            case "file":
                return {"dossier": "HS-2026"}
            case "return":
                return {"reason": "Sai địa chỉ"}
            case "cancel":
                return {"reason": "Không cần nữa"}
            case "revise":
                return {"summary": rng.choice(SUMMARIES) + " (sửa)"}
            case "review":
                return {"approve": True, "comments": ""}
            case "issue":
                others = [o for o in self.offices if o != doc.state.office_id]
                return {"recipients": rng.sample(others, min(len(others), rng.randint(1, 3)))}
            case "sign":
                return {"signer_name": "Nguyễn Văn A", "signer_position": "Phó Bí thư", "authority": "T/M"}
            case "grant_access":
                return {"user": f"u-reader-{rng.randint(1, 3)}"}
        return {}

    def events(self, count: int, live: int = 200) -> Iterator[Envelope]:
        """About `count` envelopes, interleaving up to `live` documents at a time."""
        produced = 0
        docs: list[_Doc] = []
        kinds = [DocumentKind.INCOMING] * 5 + [DocumentKind.OUTGOING] * 3 + [DocumentKind.TASK] * 2
        while produced < count:
            self.now += timedelta(seconds=self.rng.randint(1, 30))
            if len(docs) < live and (not docs or self.rng.random() < 0.3):
                doc, out = self._new(self.rng.choice(kinds), self.rng.choice(self.offices))
                docs.append(doc)
            else:
                doc = self.rng.choice(docs)
                if not doc.script:
                    docs.remove(doc)
                    continue
                action = doc.script.pop(0)
                out = self._act(doc, action, docs)
            yield from out
            produced += len(out)

    def _act(self, doc: _Doc, action: str, docs: list[_Doc]) -> list[Envelope]:
        if action == "deliver":
            return self._deliver(doc, docs)
        assert doc.state.kind is not None
        try:
            return self._apply(
                doc, parse_action(doc.state.kind, {"action": action, **self._body(doc, action)})
            )
        except DomainError:
            return []

    def _deliver(self, source: _Doc, docs: list[_Doc]) -> list[Envelope]:
        """What the saga does, done by hand: a copy in each recipient office, recorded on the source."""
        out: list[Envelope] = []
        for office in source.state.recipients:
            s = source.state
            body = {
                "kind": "incoming",
                "office_id": office,
                "issuing_body": s.office_id,
                "number_code": s.number_code,
                "document_date": str(s.issued_on),
                "document_type": s.document_type,
                "summary": s.summary,
                "urgency": s.urgency,
                "secrecy": s.secrecy,
                "source": {"office_id": s.office_id, "document_id": s.id},
            }
            actor = Actor(user="system", office=office, roles=("system",))
            copy = _Doc(initial_state(self._id()), INCOMING[:3], actor)
            out += self._apply(copy, ReceiveDocument.model_validate(body))  # as the saga: source is its own
            docs.append(copy)
            out += self._apply(
                source,
                parse_action(
                    "outgoing",
                    {"action": "record_delivery", "office_id": office, "document_id": copy.state.id},
                ),
            )
        return out


def story(
    document_id: str,
    create: dict[str, Any],
    actions: list[dict[str, Any]],
    *,
    now: datetime = START,
    user: str = "u-clerk",
    number: int = 1,
) -> list[Envelope]:
    """The envelopes of one document: created from an API body, then each action body in turn."""
    office = create["office_id"]
    doc = _Doc(initial_state(document_id), [], Actor(user=user, office=office, roles=("clerk", "leader")))
    w = Workload([office], now=now)
    w.first_number = number
    out = w._apply(doc, parse_create(create))
    for body in actions:
        assert doc.state.kind is not None
        out += w._apply(doc, parse_action(doc.state.kind, body))
    return out


def incoming_body(
    office: str, summary: str = "Quyết định về việc thành lập tổ công tác", **extra: Any
) -> dict[str, Any]:
    """The sample incoming body, a decision (quyết định): its number holds a Đ for accent-free search."""
    fields = {"number_code": "125-QĐ/BTCTU", "document_date": "2026-02-20", "document_type": "QD", **extra}
    return create_body(DocumentKind.INCOMING, office, summary=summary, **fields)
