"""What a client names in an action must exist: recipient offices, lead and cooperating units."""

from __future__ import annotations

from deploy.config.offices import Offices
from schemas.commands import AssignDocument, Command, IssueDocument, ReassignDocument
from schemas.parsing import CommandInvalid, FieldError


def check_names(command: Command, office_id: str | None, offices: Offices) -> None:
    """Refuse (422) an action naming an office or unit that is not configured for it."""
    errors: list[FieldError] = []
    if isinstance(command, IssueDocument):
        for i, office in enumerate(command.recipients):
            if office not in offices:
                errors.append(FieldError(f"recipients.{i}", f"office {office!r} is not a configured office"))
            elif office == office_id:
                errors.append(FieldError(f"recipients.{i}", "the issuing office is not its own recipient"))
    if isinstance(command, AssignDocument | ReassignDocument):
        home = offices.get(office_id) if office_id else None
        units = {u.id for u in home.units} if home is not None else set()
        named = [("lead.unit", command.lead.unit)] if command.lead.unit is not None else []
        named += [(f"cooperating.{i}", unit) for i, unit in enumerate(command.cooperating)]
        for field, unit in named:
            if unit not in units:
                errors.append(FieldError(field, f"{unit!r} is not a unit of office {office_id}"))
    if errors:
        raise CommandInvalid(errors)
