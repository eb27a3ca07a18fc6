"""Register numbers: which number a command needs, and how ký hiệu is written.

Numbers come from the database (unique and gap-free per series), not the decider. The write side asks
`numbering_needed`, takes the next number in the same transaction as the append, and hands the command
back through `with_number` before deciding.

Series (DOMAIN.md): số đến per (office, register, calendar year), secret incoming documents on their own;
số đi per (office, document type, committee term), secret and non-secret together (HD 36-HD/VPTW).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from schemas.commands import Command, HandOver, IssueDocument, RegisterDocument
from schemas.deadlines import local_date
from schemas.enums import DocumentKind, DocumentType, Secrecy, State
from schemas.state import DocumentState

SECRET_SERIES = "mat"
NO_TERM = ""  # an office whose term was never set numbers in its first term


@dataclass(frozen=True, slots=True)
class NumberRequest:
    """The series a number is taken from: one gap-free sequence per (office, register, series, period).

    `period` is the calendar year for số đến and the committee term's first day (ISO, or NO_TERM) for số đi.
    """

    office_id: str
    register: Literal["incoming", "outgoing"]  # sổ văn bản đến / đi
    series: str
    period: str


def incoming_series(register_name: str, secrecy: Secrecy | None) -> str:
    """Secret incoming documents are registered on their own series, whatever register was asked for."""
    return SECRET_SERIES if secrecy is not None and secrecy.is_secret else register_name


def outgoing_series(document_type: str) -> str:
    """The số đi series of a type: its code, whatever the document's secrecy."""
    return DocumentType(document_type).value


def number_code(number: int, document_type: str, office_code: str) -> str:
    """Party-style số, ký hiệu: "123-CV/TU"; numbers under 10 are written with a leading zero."""
    return f"{number:02d}-{DocumentType(document_type).abbreviation}/{office_code}"


def numbering_needed(
    command: Command, state: DocumentState, now: datetime, term_starts_on: date | None = None
) -> NumberRequest | None:
    """The number the write side must take before deciding `command`, or None. `term_starts_on` is the
    issuing office's current committee term (None: its first)."""
    if state.office_id is None:
        return None
    match command:
        case RegisterDocument(incoming_number=None) if state.state is State.RECEIVED:
            series = incoming_series(command.register_name, state.secrecy)
            return NumberRequest(state.office_id, "incoming", series, str(local_date(now).year))
        case IssueDocument(outgoing_number=None) if state.state is State.SIGNED and state.document_type:
            period = NO_TERM if term_starts_on is None else term_starts_on.isoformat()
            return NumberRequest(state.office_id, "outgoing", outgoing_series(state.document_type), period)
        case HandOver(incoming_number=None, to_office=successor) if (
            state.kind is DocumentKind.INCOMING
            and state.incoming_number is not None
            and successor != state.office_id
        ):
            # Bàn giao: the successor enters a registered document in its own register, in order of
            # receipt like any document it receives (the closed office's register keeps its number).
            series = incoming_series(state.register_name or "chung", state.secrecy)
            return NumberRequest(successor, "incoming", series, str(local_date(now).year))
    return None


def with_number(
    command: Command, number: int, office_code: str | None = None, term_starts_on: date | None = None
) -> Command:
    """`command` with the number the write side took (and, for issuing, the office's code and term)."""
    match command:
        case RegisterDocument():
            return command.model_copy(update={"incoming_number": number})
        case IssueDocument():
            update = {"outgoing_number": number, "office_code": office_code, "term_starts_on": term_starts_on}
            return command.model_copy(update=update)
        case HandOver():
            return command.model_copy(update={"incoming_number": number})
    raise ValueError(f"{command.action}: takes no register number")
