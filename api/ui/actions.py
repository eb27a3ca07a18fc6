"""The actions a page offers as forms: which ones this user may take now, and the API body a form makes.

A form posts the same command the API takes (`POST /v1/documents/{id}/actions` with If-Match); the route
calls the API's own handler, so roles, visibility and the life cycle are judged in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api.auth import Principal
from api.permissions import ACTION_ROLES
from schemas.enums import DocumentKind, State
from schemas.transitions import allowed_actions


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text | textarea | number | date | yesno | unit | units | offices
    required: bool = False
    default: str = ""


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
FORMS: dict[str, Form] = {
    f.action: f
    for f in (
        Form("register", (Field("register", "Sổ đăng ký", default="chung"),)),
        Form("submit"),
        Form("return", (Field("reason", "Lý do trả lại", "textarea", required=True),)),
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
        Form("complete", (Field("result", "Kết quả giải quyết", "textarea", required=True),)),
        Form("file", (Field("dossier", "Hồ sơ", required=True),)),
        Form("submit_review"),
        Form("review", (Field("approve", "Đồng ý", "yesno"), Field("comments", "Ý kiến", "textarea"))),
        Form(
            "sign",
            (
                Field("signer_name", "Họ tên người ký", required=True),
                Field("signer_position", "Chức vụ", required=True),
            ),
        ),
        Form("issue", (Field("recipients", "Nơi nhận", "offices", required=True),)),
        Form("correct", (Field("note", "Nội dung đính chính", "textarea", required=True),)),
        Form("recall"),
        Form("archive"),
        Form("cancel", (Field("reason", "Lý do", "textarea", required=True),)),
        Form("confirm_recall"),
        Form("refuse_recall", (Field("reason", "Lý do", "textarea", required=True),)),
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
        if action == "recall" and doc["kind"] != "outgoing":  # the sender recalls its own original
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
