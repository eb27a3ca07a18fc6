"""Who may do what: roles per action, and which documents a caller may see. One table, one function."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.auth import Forbidden, Principal
from processors import queries
from processors.queries import Viewer
from schemas.state import DocumentState

# Roles that may create each kind of document in their own office.
CREATE_ROLES: dict[str, tuple[str, ...]] = {
    "incoming": ("clerk",),
    "outgoing": ("specialist", "clerk", "leader"),
    "task": ("leader", "specialist"),
}

# Roles that may take each action on a document of their own office (an admin may do all of them there;
# like every role, an admin acts only within its own office).
ACTION_ROLES: dict[str, tuple[str, ...]] = {
    # văn thư: intake, numbering, issuing, filing
    "register": ("clerk",),
    "return": ("clerk", "leader"),
    "submit": ("clerk",),
    "mark_for_info": ("leader", "clerk"),
    "file": ("clerk", "specialist"),
    "issue": ("clerk",),
    "archive": ("clerk",),
    "correct": ("clerk", "leader"),
    "replace": ("clerk", "leader"),
    "recall": ("clerk", "leader"),
    "confirm_recall": ("clerk", "leader"),
    "refuse_recall": ("clerk", "leader"),
    # lãnh đạo: directing, signing, deciding
    "assign": ("leader",),
    "reassign": ("leader",),
    "decide_extension": ("leader",),
    "review": ("leader",),
    "sign": ("leader",),
    "cancel": ("leader",),
    "grant_access": ("leader",),
    "declassify": ("leader",),
    # chuyên viên: handling and drafting
    "start": ("specialist", "leader"),
    "report_progress": ("specialist", "leader"),
    "request_extension": ("specialist",),
    "complete": ("specialist", "leader"),
    "revise": ("specialist", "leader"),
    "submit_review": ("specialist",),
}


def require_action(principal: Principal, action: str, document_office: str | None) -> None:
    if document_office != principal.office:
        raise Forbidden(
            f"only office {document_office} acts on this document; the token is for {principal.office}"
        )
    roles = ACTION_ROLES.get(action)
    if roles is None:
        raise Forbidden(f"{action} is taken by the system, not by users")
    principal.require(*roles)


def viewer_of(principal: Principal) -> Viewer:
    return Viewer(office_id=principal.office, user_id=principal.user, clearance=principal.clearance)


def may_see(principal: Principal, doc: Mapping[str, Any], secrecy: str | None = None) -> bool:
    """The one visibility rule (processors.queries.visible) for a caller; `secrecy`: the highest ever."""
    return queries.visible(viewer_of(principal), doc, secrecy)


def may_see_state(principal: Principal, state: DocumentState) -> bool:
    """`may_see` on a folded state, given only the fields the rule reads (not the whole `to_dict`)."""
    secrecy = None if state.secrecy is None else state.secrecy.value
    facts = {"office_id": state.office_id, "secrecy": secrecy, "access": state.access}
    return may_see(principal, {**facts, "created_by": state.created_by})
