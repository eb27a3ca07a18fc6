"""Register numbers: which number a command needs, and how ký hiệu is written.

Numbers come from the database (unique and gap-free per office, register and year), not the decider.
The write side asks `numbering_needed`, takes the next number in the same transaction as the append, and
hands the command back through `with_number` before deciding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from schemas.commands import Command, IssueDocument, RegisterDocument
from schemas.deadlines import local_date
from schemas.enums import DocumentType, Secrecy, State
from schemas.state import DocumentState

SECRET_SERIES = "mat"
ORDINARY_SERIES = "thuong"


@dataclass(frozen=True, slots=True)
class NumberRequest:
    """The series a number must be taken from: one gap-free sequence per (office, register, series, year)."""

    office_id: str
    register: Literal["incoming", "outgoing"]  # sổ văn bản đến / đi
    series: str
    year: int


def incoming_series(register_name: str, secrecy: Secrecy | None) -> str:
    """Secret incoming documents are registered on their own series, whatever register was asked for."""
    return SECRET_SERIES if secrecy is not None and secrecy.is_secret else register_name


def outgoing_series(secrecy: Secrecy | None) -> str:
    return SECRET_SERIES if secrecy is not None and secrecy.is_secret else ORDINARY_SERIES


def number_code(number: int, document_type: DocumentType, office_code: str) -> str:
    """Party-style số, ký hiệu: "123-CV/TU"; numbers under 10 are written with a leading zero."""
    return f"{number:02d}-{document_type.abbreviation}/{office_code}"


def numbering_needed(command: Command, state: DocumentState, now: datetime) -> NumberRequest | None:
    """The number the write side must take before deciding `command`, or None."""
    if state.office_id is None:
        return None
    year = local_date(now).year
    match command:
        case RegisterDocument(incoming_number=None) if state.state is State.RECEIVED:
            series = incoming_series(command.register_name, state.secrecy)
            return NumberRequest(state.office_id, "incoming", series, year)
        case IssueDocument(outgoing_number=None) if state.state is State.SIGNED:
            return NumberRequest(state.office_id, "outgoing", outgoing_series(state.secrecy), year)
    return None


def with_number(command: Command, number: int, office_code: str | None = None) -> Command:
    """`command` with the number the write side took (and, for issuing, the office's code)."""
    match command:
        case RegisterDocument():
            return command.model_copy(update={"incoming_number": number})
        case IssueDocument():
            return command.model_copy(update={"outgoing_number": number, "office_code": office_code})
    raise ValueError(f"{command.action}: takes no register number")
