"""From API bodies to commands: `{"action": name, ...}` for actions, `{"kind": ..., ...}` for creation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from schemas.commands import (
    ACTION_COMMANDS,
    Command,
    CreateTask,
    DraftDocument,
    ReceiveDocument,
)
from schemas.enums import DocumentKind


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str  # dotted path, e.g. "deadline.working_days" or "attachments.0.sha256"
    reason: str


class CommandInvalid(ValueError):
    """A body does not make a valid command; `errors` names each offending field and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))


COMMANDS_BY_ACTION: dict[str, type[Command]] = {cls.action: cls for cls in ACTION_COMMANDS}

_CREATE = TypeAdapter[ReceiveDocument | DraftDocument | CreateTask](
    Annotated[ReceiveDocument | DraftDocument | CreateTask, Field(discriminator="kind")]
)


_CREATE_CLASSES: tuple[type[Command], ...] = (ReceiveDocument, DraftDocument, CreateTask)


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors():
        # Union/discriminator tags in the location are implementation detail, not field names.
        path = [str(p) for p in error["loc"] if p not in {"incoming", "outgoing", "task"}]
        message = error["msg"].removeprefix("Value error, ")
        if not path and error["type"].startswith("union_tag"):
            path = ["kind"]
        elif not path and ": " in message:
            # Rules across fields (e.g. "comments: required when ...") name their field first.
            field, message = message.split(": ", 1)
            path = [field]
        errors.append(FieldError(".".join(path) or "body", message))
    return errors


def parse_create(body: Mapping[str, Any]) -> Command:
    """A `POST /v1/documents` body, discriminated on `kind`."""
    cls = next((c for c in _CREATE_CLASSES if body.get("kind") == c.model_fields["kind"].default), None)
    sent_by_client = sorted(cls.server_fields & body.keys()) if cls is not None else []
    if sent_by_client:
        raise CommandInvalid([FieldError(f, "set by the server, must not be sent") for f in sent_by_client])
    try:
        return _CREATE.validate_python(dict(body))
    except ValidationError as exc:
        raise CommandInvalid(_field_errors(exc)) from exc


def parse_action(kind: DocumentKind | str, body: Mapping[str, Any]) -> Command:
    """A `POST /v1/documents/{id}/actions` body for a document of `kind`."""
    kind = DocumentKind(kind)
    params = dict(body)
    action = params.pop("action", None)
    cls = COMMANDS_BY_ACTION.get(action) if isinstance(action, str) else None
    if cls is None or kind not in cls.kinds:
        allowed = sorted(name for name, c in COMMANDS_BY_ACTION.items() if kind in c.kinds)
        why = f"unknown action {action!r} for {kind.value} documents; expected one of {', '.join(allowed)}"
        raise CommandInvalid([FieldError("action", why)])
    sent_by_client = sorted(cls.server_fields & params.keys())
    if sent_by_client:
        raise CommandInvalid(
            [FieldError(f, "assigned by the server, must not be sent") for f in sent_by_client]
        )
    try:
        return cls.model_validate(params)
    except ValidationError as exc:
        raise CommandInvalid(_field_errors(exc)) from exc


M = TypeVar("M", bound=BaseModel)


def parse_body(cls: type[M], body: Mapping[str, Any]) -> M:
    """Any other request body (a term, a calendar year) validated as `cls`, errors named per field."""
    try:
        return cls.model_validate(dict(body))
    except ValidationError as exc:
        raise CommandInvalid(_field_errors(exc)) from exc
