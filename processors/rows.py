"""The read-model rows of one document, a pure function of its folded state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from schemas.enums import DocumentKind, Secrecy, State
from schemas.evolve import register_received_on
from schemas.state import Assignment, DocumentState
from schemas.upcasting import current_type

DOCUMENT_COLUMNS = (
    "id",
    "kind",
    "office_id",
    "state",
    "version",
    "document_type",
    "summary",
    "title",
    "number_code",
    "issuing_body",
    "urgency",
    "secrecy",
    "holder_unit",
    "holder_user",
    "incoming_number",
    "register_name",
    "registered_on",
    "outgoing_number",
    "series",
    "number_year",
    "issued_on",
    "source_office_id",
    "source_document_id",
    "created_at",
    "created_by",
    "updated_at",
    "completed_at",
    "last_event_type",
    "data",
)
OFFICE_COLUMNS = ("office_id", "document_id", "relation", "created_at", "waits_for_leader")
ASSIGNMENT_COLUMNS = (
    "document_id",
    "assignment_id",
    "office_id",
    "lead_unit",
    "lead_user",
    "cooperating",
    "directive",
    "due_date",
    "assigned_at",
    "assigned_by",
    "completed_on",
    "completed_at",
    "ended_at",
    "superseded_by",
    "progress_percent",
    "approaching_marked",
    "missed_marked",
)
INCOMING_REGISTER_COLUMNS = (
    "document_id",
    "office_id",
    "register_name",
    "year",
    "number",
    "received_on",
    "issuing_body",
    "number_code",
    "document_date",
    "document_type",
    "summary",
    "secrecy",
    "urgency",
    "recipient",
    "handed_over_on",
    "due_date",
    "progress",
    "reply_number_code",
    "note",
    "handed_from",
    "handed_to",
)
OUTGOING_REGISTER_COLUMNS = (
    "document_id",
    "office_id",
    "series",
    "year",
    "number",
    "number_code",
    "issued_on",
    "document_type",
    "summary",
    "secrecy",
    "signed_by",
    "recipients",
    "archive_holder",
    "copies",
    "handed_over_on",
    "note",
)
DELIVERY_COLUMNS = (
    "source_document_id",
    "office_id",
    "source_office_id",
    "copy_document_id",
    "state",
    "updated_at",
)
ACCESS_COLUMNS = ("document_id", "user_id")
LISTING_COLUMNS = (
    "office_id",
    "document_id",
    "relation",
    "document_office_id",
    "kind",
    "state",
    "version",
    "document_type",
    "summary",
    "title",
    "number_code",
    "issuing_body",
    "urgency",
    "secrecy",
    "secrecy_rank",
    "created_by",
    "incoming_number",
    "outgoing_number",
    "holder_unit",
    "holder_user",
    "source_office_id",
    "source_document_id",
    "created_at",
    "updated_at",
    "attachments",
)

# A document's rows in each child table, keyed by the table's primary key: the writer compares a
# document's rows before and after a batch by key and writes only what vanished, appeared or changed.
CHILD_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    # table: (column holding the document id, columns)
    "document_offices": ("document_id", OFFICE_COLUMNS),
    "assignments": ("document_id", ASSIGNMENT_COLUMNS),
    "incoming_register": ("document_id", INCOMING_REGISTER_COLUMNS),
    "outgoing_register": ("document_id", OUTGOING_REGISTER_COLUMNS),
    "deliveries": ("source_document_id", DELIVERY_COLUMNS),
    "document_access": ("document_id", ACCESS_COLUMNS),
}
# Each table's primary key (all text columns): the leading columns of its rows' tuples here.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "documents": ("id",),
    "document_offices": ("office_id", "document_id"),
    "assignments": ("document_id", "assignment_id"),
    "incoming_register": ("document_id", "office_id"),  # a handed-over document keeps a row per register
    "outgoing_register": ("document_id",),
    "deliveries": ("source_document_id", "office_id"),
    "document_access": ("document_id", "user_id"),
    "listing": ("office_id", "document_id"),
}
# The SQL type of every column that is not text, for the arrays a batch's rows are sent as.
COLUMN_TYPES: dict[str, str] = {
    "version": "integer",
    "incoming_number": "integer",
    "outgoing_number": "integer",
    "number_year": "integer",
    "year": "integer",
    "number": "integer",
    "copies": "integer",
    "progress_percent": "integer",
    "secrecy_rank": "smallint",
    "registered_on": "date",
    "issued_on": "date",
    "due_date": "date",
    "completed_on": "date",
    "received_on": "date",
    "document_date": "date",
    "handed_over_on": "date",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "completed_at": "timestamptz",
    "assigned_at": "timestamptz",
    "ended_at": "timestamptz",
    "approaching_marked": "boolean",
    "missed_marked": "boolean",
    "waits_for_leader": "boolean",
    "data": "jsonb",
    "cooperating": "text[]",
    "recipients": "text[]",
    "attachments": "text[]",
}

Row = tuple[Any, ...]
HANDED_OVER = "handed_over"  # the progress a closed office's register shows for a document it handed over


@dataclass(frozen=True, slots=True)
class DocumentRows:
    document: Row
    children: dict[str, list[Row]]
    listing: list[Row]  # one per office that lists it (upserted, not replaced: its updates stay HOT)


def _value(x: Any) -> Any:
    # enums to their string values: `_value_` is the member's own attribute, `value` a property of the
    # Enum class (a descriptor call, 2-3% of the worker's samples at five a row)
    return getattr(x, "_value_", x)


def _local_day(moment: datetime | None) -> date | None:
    from schemas.deadlines import local_date

    return None if moment is None else local_date(moment)


def _relation(kind: DocumentKind | None) -> str:
    return {DocumentKind.INCOMING: "inbox", DocumentKind.OUTGOING: "outbox"}.get(kind, "task")  # type: ignore[arg-type]


def signer(state: DocumentState) -> str | None:
    """Người ký as the register prints it: authority, position and full name ("T/M Phó Bí thư Nguyễn
    Văn A"); documents signed before these were asked for show who recorded the signature."""
    if not state.signer_name:
        return state.signed_by
    parts = [state.signer_authority, state.signer_position, state.signer_name]
    return " ".join(p for p in parts if p)


def extension_asked(a: Assignment) -> bool:
    """An open assignment whose last extension request waits for a leader's decision."""
    return a.ended_at is None and bool(a.extensions) and a.extensions[-1].approved is None


def waits_for_leader(state: DocumentState) -> bool:
    """What the overview lists as waiting for a leader: an incoming document registered or submitted and
    not yet assigned, a draft in review (to approve and sign), a task not yet assigned, a document in
    handling with an extension request not decided yet."""
    kind, now = state.kind, state.state
    if (kind, now) in _WAITING_STATES:
        return True
    handling = now in (State.ASSIGNED, State.IN_PROGRESS)
    return handling and any(extension_asked(a) for a in state.assignments)


_WAITING_STATES = {
    (DocumentKind.INCOMING, State.REGISTERED),
    (DocumentKind.INCOMING, State.SUBMITTED),
    (DocumentKind.OUTGOING, State.REVIEW),
    (DocumentKind.TASK, State.OPEN),
}


def offices_of(state: DocumentState) -> list[str]:
    """The offices that see this document: its own only. A recipient office sees its incoming copy (the
    delivery saga's), never the sender's original with its reviews, drafts, grants and other recipients."""
    return [state.office_id] if state.office_id else []


def document_rows(state: DocumentState, last_event_type: str) -> DocumentRows:
    current = state.current_assignment
    source = state.source
    document: Row = (
        state.id,
        _value(state.kind),
        state.office_id,
        _value(state.state),
        state.version,
        _value(state.document_type),
        state.summary,
        state.title,
        state.number_code,
        state.issuing_body,
        _value(state.urgency),
        _value(state.secrecy),
        None if current is None else current.lead.unit,
        None if current is None else current.lead.user,
        state.incoming_number,
        state.register_name,
        state.registered_on,
        state.outgoing_number,
        state.series,
        state.number_year,
        state.issued_on,
        None if source is None else source.office_id,
        None if source is None else source.document_id,
        state.created_at,
        state.created_by,
        state.updated_at,
        state.completed_at,
        current_type(last_event_type),  # an old stored name reads as the renamed type
        state.model_dump_json(),  # DocumentState.to_dict() as JSON text
    )
    children: dict[str, list[Row]] = {name: [] for name in CHILD_TABLES}
    if state.office_id:
        children["document_offices"].append(
            (state.office_id, state.id, _relation(state.kind), state.created_at, waits_for_leader(state))
        )
    for a in state.assignments:
        children["assignments"].append(
            (
                state.id,
                a.id,
                a.office_id or state.office_id,  # a closed office's assignments stay its own
                a.lead.unit,
                a.lead.user,
                list(a.cooperating),
                a.directive,
                a.due_date,
                a.assigned_at,
                a.assigned_by,
                a.completed_on,
                a.completed_at,
                a.ended_at,
                a.superseded_by,
                a.progress_percent,
                a.approaching_marked,
                a.missed_marked,
            )
        )
    if state.incoming_number is not None and state.office_id and state.register_name:
        children["incoming_register"].extend(incoming_register_rows(state))
    if state.outgoing_number is not None and state.office_id and state.series:
        children["outgoing_register"].append(
            (
                state.id,
                state.office_id,
                state.series,
                state.number_year or (state.issued_on or date.min).year,
                state.outgoing_number,
                state.number_code,
                state.issued_on,
                _value(state.document_type),
                state.summary,
                _value(state.secrecy),
                signer(state),
                list(state.recipients),
                state.retained_by or state.office_id,  # nơi lưu; the issuing office when not entered
                state.copies if state.copies is not None else len(state.recipients) + 1,
                state.issued_on,
                state.closed_reason,
            )
        )
    delivered = {d.office_id: d for d in state.deliveries}
    for office in state.recipients:
        d = delivered.get(office)
        children["deliveries"].append(
            (
                state.id,
                office,
                state.office_id,
                None if d is None else d.document_id,
                "pending" if d is None or d.state is None else _value(d.state),
                None if d is None else d.updated_at,
            )
        )
    for user in state.access:
        children["document_access"].append((state.id, user))
    return DocumentRows(document, children, listing_rows(state, children["document_offices"], current))


def incoming_register_rows(state: DocumentState) -> list[Row]:
    """The document's rows in the incoming registers: one in the office whose số đến it holds now, and one
    in each office that registered it, closed and handed it over (that register keeps its number, with
    what that office had done: its lead, deadline, and "handed over" as its progress)."""
    assert state.incoming_number is not None and state.register_name is not None

    def row(
        office: str,
        register_name: str,
        registered_on: date,
        number: int,
        received_on: date | None,
        assignments: tuple[Assignment, ...],
        lead: Assignment | None,
        progress: str,
        handed: tuple[str | None, str | None],
        done: tuple[str | None, str | None],
    ) -> Row:
        first = assignments[0] if assignments else None
        lead = lead or first
        return (
            state.id,
            office,
            register_name,
            registered_on.year,
            number,
            received_on,  # ngày đến: the day of receipt (in that office)
            state.issuing_body,
            state.number_code,
            state.document_date,
            _value(state.document_type),
            state.summary,
            _value(state.secrecy),
            _value(state.urgency),
            None if lead is None else (lead.lead.unit or lead.lead.user),
            None if first is None else _local_day(first.assigned_at),
            None if lead is None else lead.due_date,
            progress,
            *done,  # số, ký hiệu of the reply; ghi chú
            *handed,  # handed over from / to (bàn giao)
        )

    rows = []
    for r in state.former_registrations:
        then = state.assignments[r.assignments[0] : r.assignments[1]]
        rows.append(
            row(
                r.office_id,
                r.register_name,
                r.registered_on,
                r.incoming_number,
                r.received_on,
                then,
                then[-1] if then else None,
                HANDED_OVER,
                (_handed_from(state, r.office_id), r.handed_to),
                (None, None),
            )
        )
    office = state.registered_in or state.office_id or ""  # a closed office keeps its register
    here = office == state.office_id
    rows.append(
        row(
            office,
            state.register_name,
            state.registered_on or date.min,
            state.incoming_number,
            register_received_on(state),
            state.assignments[state.assignments_from :],
            state.current_assignment,
            str(_value(state.state)),
            (_handed_from(state, office), None if here else state.office_id),
            (state.reply_number_code, state.returned_reason or state.closed_reason),
        )
    )
    return rows


def _handed_from(state: DocumentState, office: str) -> str | None:
    """The office that handed the document over to `office`, if one did (`held_by` is the chain)."""
    chain = (*state.held_by, state.office_id)
    index = chain.index(office) if office in chain else 0
    return chain[index - 1] if index > 0 else None


def listing_rows(state: DocumentState, offices: list[Row], current: Assignment | None) -> list[Row]:
    """The listing row of the document in each office that lists it (its `document_offices` rows);
    `current` is its current assignment (`state.current_assignment`, which the caller has)."""
    source = state.source
    secrecy = _value(state.secrecy)
    shown = (
        state.office_id,
        _value(state.kind),
        _value(state.state),
        state.version,
        _value(state.document_type),
        state.summary,
        state.title,
        state.number_code,
        state.issuing_body,
        _value(state.urgency),
        secrecy,
        Secrecy.rank_of(secrecy),
        state.created_by,
        state.incoming_number,
        state.outgoing_number,
        None if current is None else current.lead.unit,
        None if current is None else current.lead.user,
        None if source is None else source.office_id,
        None if source is None else source.document_id,
        state.created_at,
        state.updated_at,
        [a.sha256 for a in state.attachments],
    )
    return [(office, document, relation, *shown) for office, document, relation, *_ in offices]
