"""The write side's refusals; schemas' DomainError passes through `handle` unchanged."""

from __future__ import annotations

from datetime import date

from schemas.state import DocumentState


class VersionConflict(Exception):
    """The document is not at the version the caller expected (someone else acted first)."""

    def __init__(self, document_id: str, expected_version: int | None, state: DocumentState) -> None:
        self.document_id = document_id
        self.expected_version = expected_version
        self.current_version = state.version
        self.state = state
        super().__init__(
            f"document {document_id}: expected version {expected_version}, it is at {state.version}"
        )


class IdempotencyKeyReused(Exception):
    """An idempotency key already answered a different command."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"idempotency key {key!r} was already used for a different request")


class DocumentNotFound(Exception):
    def __init__(self, document_id: str) -> None:
        self.document_id = document_id
        super().__init__(f"document {document_id} does not exist")


class OfficeClosed(Exception):
    """A delivery to, or a new document in, an office that has closed; names who took over from it."""

    def __init__(self, office_id: str, closed_on: date, successors: tuple[str, ...]) -> None:
        self.office_id, self.closed_on, self.successors = office_id, closed_on, successors
        super().__init__(
            f"office {office_id} closed on {closed_on.isoformat()}; its successor is "
            f"{' and '.join(successors)}: address {successors[0]} instead"
        )


class OfficeNotOpen(Exception):
    """A delivery to, or a new document in, an office whose opening day (`opened_on`) is still to come."""

    def __init__(self, office_id: str, opened_on: date, today: date) -> None:
        self.office_id, self.opened_on = office_id, opened_on
        super().__init__(
            f"office {office_id} opens on {opened_on.isoformat()} (today is {today.isoformat()}): "
            "nothing can be delivered to or created in it before then"
        )


class ClosingRefused(ValueError):
    """An office cannot be closed as asked; `status` is 409 when it is closed already, else 422."""

    def __init__(self, reason: str, status: int = 422) -> None:
        self.status = status
        super().__init__(reason)
