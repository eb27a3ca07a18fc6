"""The actions a page offers as forms: which ones this user may take now, and the API body a form makes.

A form posts the same command the API takes (`POST /v1/documents/{id}/actions` with If-Match); the route
calls the API's own handler, so roles, visibility and the life cycle are judged in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api.auth import Principal
from api.permissions import ACTION_ROLES
from api.ui import words
from schemas.enums import DocumentKind, DocumentType, Secrecy, State
from schemas.transitions import allowed_actions


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    # text | textarea | number | date | yesno | unit | units | offices | select (one of `choices`) |
    # secrecy_up / secrecy_down (the levels above / below the document's own)
    kind: str = "text"
    required: bool = False
    default: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # (value, label); a "" value leaves the parameter out


@dataclass(frozen=True)
class Form:
    action: str
    fields: tuple[Field, ...] = field(default_factory=tuple)


_ASSIGN = (
    Field("lead_unit", "Đơn vị chủ trì", "unit", required=True),
    Field("cooperating", "Đơn vị phối hợp", "units"),
    Field("directive", "Ý kiến chỉ đạo", "textarea"),
    Field("working_days", "Thời hạn (ngày làm việc)", "number", required=True, default="5"),
)
_URGENCY = tuple(words.URGENCY.items())
_TYPES = tuple((t.value, words.type_name(t.value)) for t in DocumentType)
_AUTHORITY = (
    ("", "Không ghi"),
    ("T/M", "T/M (thay mặt)"),
    ("K/T", "K/T (ký thay)"),
    ("T/L", "T/L (thừa lệnh)"),
)
FORMS: dict[str, Form] = {
    f.action: f
    for f in (
        Form("register", (Field("register", "Sổ đăng ký", default="chung"),)),
        Form("submit"),
        Form("return", (Field("reason", "Lý do trả lại", "textarea", required=True),)),
        Form("recall", (Field("reason", "Lý do thu hồi", "textarea"),)),
        Form("assign", _ASSIGN),
        Form("reassign", _ASSIGN),
        Form("mark_for_info"),
        Form("start"),
        Form(
            "report_progress",
            (
                Field("percent", "Tiến độ (%)", "number", required=True),
                Field("note", "Ghi chú", "textarea"),
            ),
        ),
        Form(
            "request_extension",
            (
                Field("deadline_date", "Hạn mới", "date", required=True),
                Field("reason", "Lý do", "textarea", required=True),
            ),
        ),
        Form("decide_extension", (Field("approve", "Đồng ý gia hạn", "yesno"), Field("note", "Ghi chú"))),
        Form(
            "complete",
            (
                Field("result", "Kết quả giải quyết", "textarea", required=True),
                Field("reply_document_id", "Mã văn bản trả lời (nếu có)"),
            ),
        ),
        Form("file", (Field("dossier", "Hồ sơ", required=True),)),
        Form(
            "revise",
            (
                Field("summary", "Trích yếu mới (để trống: giữ nguyên)", "textarea"),
                Field("document_type", "Tên loại", "select", choices=(("", "Giữ nguyên"), *_TYPES)),
                Field("urgency", "Độ khẩn", "select", choices=(("", "Giữ nguyên"), *_URGENCY)),
                Field("secrecy", "Độ mật (chỉ nâng)", "secrecy_up"),
                Field("note", "Ghi chú", "textarea"),
            ),
        ),
        Form("submit_review"),
        Form("review", (Field("approve", "Đồng ý", "yesno"), Field("comments", "Ý kiến", "textarea"))),
        Form(
            "sign",
            (
                Field("signer_name", "Họ tên người ký", required=True),
                Field("signer_position", "Chức vụ", required=True),
                Field("authority", "Thẩm quyền ký", "select", choices=_AUTHORITY),
            ),
        ),
        Form(
            "issue",
            (
                Field("recipients", "Nơi nhận", "offices", required=True),
                Field("copies", "Số lượng bản", "number"),
                Field("retained_by", "Nơi lưu"),
            ),
        ),
        Form("replace", (Field("replacement_id", "Mã văn bản thay thế", required=True),)),
        Form("correct", (Field("note", "Nội dung đính chính", "textarea", required=True),)),
        Form("archive"),
        Form("cancel", (Field("reason", "Lý do", "textarea", required=True),)),
        Form("confirm_recall"),
        Form("refuse_recall", (Field("reason", "Lý do", "textarea", required=True),)),
        Form(
            "declassify",
            (
                Field("secrecy", "Độ mật mới", "secrecy_down", required=True),
                Field("basis", "Căn cứ (quyết định giải mật, hạ độ mật)", "textarea", required=True),
            ),
        ),
        Form("grant_access", (Field("user", "Người được xem (mã người dùng)", required=True),)),
    )
}


def _pending_extension(doc: Mapping[str, Any]) -> bool:
    for a in doc.get("assignments") or []:
        ext = a.get("extensions") or []
        if a.get("ended_at") is None and ext and ext[-1].get("approved") is None:
            return True
    return False


def forms_for(principal: Principal, doc: Mapping[str, Any]) -> list[Form]:
    """The forms for the actions this user may take on this document now (its own office's, in its state,
    with the role the action needs)."""
    if doc.get("office_id") != principal.office or not doc.get("kind"):
        return []
    allowed = allowed_actions(DocumentKind(doc["kind"]), State(doc["state"]))
    out = []
    for action in allowed:
        if action not in FORMS or not principal.has(*ACTION_ROLES.get(action, ())):
            continue
        if action == "decide_extension" and not _pending_extension(doc):
            continue
        if action == "request_extension" and _pending_extension(doc):
            continue
        # a copy answers a recall only while its sender's request waits for an answer
        asked = doc.get("recall_request") or {}
        if action in ("confirm_recall", "refuse_recall") and (not asked or asked.get("answer")):
            continue
        # the sender recalls its own original; an incoming document recalled by an outside sender (no copy
        # delivered here: a paper one) is recorded by the clerk; a delivered copy answers its sender instead
        if action == "recall" and doc["kind"] == "incoming" and doc.get("source"):
            continue
        # only a secret document is declassified or needs a grant to be seen
        secret = Secrecy.rank_of(doc.get("secrecy")) > 0
        if action in ("declassify", "grant_access") and not secret:
            continue
        out.append(FORMS[action])
    return out


def body_of(action: str, form: Mapping[str, Any], lists: Mapping[str, list[str]]) -> dict[str, Any]:
    """The API body a submitted form stands for (values the API itself validates)."""
    body: dict[str, Any] = {"action": action}
    spec = FORMS.get(action)
    if spec is None:
        return body
    for f in spec.fields:
        raw = form.get(f.name)
        value = raw.strip() if isinstance(raw, str) else raw
        if f.kind in ("units", "offices"):
            continue
        if f.kind == "yesno":
            body[f.name] = value == "yes"
        elif f.kind == "number":
            if value not in (None, ""):
                body[f.name] = int(value) if str(value).lstrip("-").isdigit() else value
        elif value not in (None, ""):
            body[f.name] = value
    if action in ("assign", "reassign"):
        body = {
            "action": action,
            "lead": {"unit": body.get("lead_unit")},
            "cooperating": lists.get("cooperating", []),
            "directive": body.get("directive", ""),
            "deadline": {"working_days": body.get("working_days")},
        }
    elif action == "request_extension":
        body["deadline"] = {"date": body.pop("deadline_date", None)}
    elif action == "issue":
        body["recipients"] = lists.get("recipients", [])
    return body


def secrecy_choices(kind: str, current: str | None) -> list[tuple[str, str]]:
    """The levels a `secrecy_up` field (revise: never lower) or a `secrecy_down` one (declassify: only
    lower) offers for a document of level `current`, as (value, Vietnamese name)."""
    rank = Secrecy.rank_of(current)
    names = words.SECRECY
    if kind == "secrecy_up":
        return [("", "Giữ nguyên"), *((s.value, names[s.value]) for s in Secrecy if s.rank > rank)]
    return [(s.value, names[s.value]) for s in Secrecy if s.rank < rank]
