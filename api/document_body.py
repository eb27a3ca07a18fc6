"""The API form of a document built from its folded state: what write answers, `as_of` and a 409 carry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from deploy.config.offices import Offices
from deploy.config.settings import Settings
from schemas.deadlines import assignment_view, local_date
from schemas.state import DocumentState


def document_body(
    state: DocumentState | Mapping[str, Any], offices: Offices, settings: Settings
) -> dict[str, Any]:
    """The folded state, each assignment with its deadline view as of today in the document's office."""
    doc = state.to_dict() if isinstance(state, DocumentState) else dict(state)
    due_soon = offices.due_soon_days(doc.get("office_id"), settings.due_soon_days)
    today = local_date(datetime.now(UTC))
    doc["assignments"] = [assignment_view(a, today, due_soon) for a in doc.get("assignments") or []]
    return doc
