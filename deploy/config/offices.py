"""The offices and their units: configuration read once at start-up (VANTHU_OFFICES_FILE)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from deploy.config.settings import Settings


class UnknownOffice(LookupError):
    def __init__(self, office_id: str) -> None:
        self.office_id = office_id
        super().__init__(f"office {office_id!r} is not configured")


class OfficesError(ValueError):
    """The offices file is malformed; the message names the entry and why."""


@dataclass(frozen=True, slots=True)
class Unit:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Office:
    id: str
    name: str
    code: str  # the author abbreviation in ký hiệu: "TU" in "123-CV/TU"
    parent_id: str | None
    units: tuple[Unit, ...]
    due_soon_days: int | None = None  # working days before a due date that count as "due soon" here
    opened_on: date | None = None  # the day the office began (None: before any record); closing is an act

    def to_dict(self) -> dict[str, Any]:
        """The `GET /v1/offices` form."""
        return {
            "id": self.id,
            "name": self.name,
            "code": self.code,
            "parent_id": self.parent_id,
            "units": [{"id": u.id, "name": u.name} for u in self.units],
            "opened_on": None if self.opened_on is None else self.opened_on.isoformat(),
        }


@dataclass(frozen=True)
class Offices:
    by_id: Mapping[str, Office]

    def __iter__(self) -> Iterator[Office]:
        return iter(self.by_id.values())

    def __len__(self) -> int:
        return len(self.by_id)

    def __contains__(self, office_id: object) -> bool:
        return office_id in self.by_id

    def get(self, office_id: str) -> Office | None:
        return self.by_id.get(office_id)

    def __getitem__(self, office_id: str) -> Office:
        office = self.by_id.get(office_id)
        if office is None:
            raise UnknownOffice(office_id)
        return office

    def code(self, office_id: str) -> str:
        return self[office_id].code

    def due_soon_days(self, office_id: str | None, default: int) -> int:
        """The office's "due soon" window in working days (DOMAIN.md: a setting per office)."""
        office = self.by_id.get(office_id or "")
        return default if office is None or office.due_soon_days is None else office.due_soon_days

    def to_list(self) -> list[dict[str, Any]]:
        return [o.to_dict() for o in self]


def _text(raw: Mapping[str, Any], name: str, where: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise OfficesError(f"{where}.{name}: must be a non-empty string")
    return value


def parse_offices(raw: Any) -> Offices:
    entries = raw.get("offices") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise OfficesError('offices file: expected {"offices": [...]}')
    by_id: dict[str, Office] = {}
    unit_ids: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"offices[{i}]"
        if not isinstance(entry, dict):
            raise OfficesError(f"{where}: must be an object")
        units = []
        for j, unit in enumerate(entry.get("units", [])):
            if not isinstance(unit, dict):
                raise OfficesError(f"{where}.units[{j}]: must be an object")
            u = Unit(_text(unit, "id", f"{where}.units[{j}]"), _text(unit, "name", f"{where}.units[{j}]"))
            if u.id in unit_ids:
                raise OfficesError(f"{where}.units[{j}].id: {u.id!r} is used twice")
            unit_ids.add(u.id)
            units.append(u)
        parent = entry.get("parent_id")
        if parent is not None and not isinstance(parent, str):
            raise OfficesError(f"{where}.parent_id: must be a string or null")
        due_soon = entry.get("due_soon_days")
        if due_soon is not None and (
            not isinstance(due_soon, int) or isinstance(due_soon, bool) or due_soon < 0
        ):
            raise OfficesError(f"{where}.due_soon_days: must be a whole number of working days, 0 or more")
        opened = entry.get("opened_on")
        try:
            opened_on = None if opened is None else date.fromisoformat(opened)
        except (TypeError, ValueError):
            raise OfficesError(f"{where}.opened_on: must be a date (YYYY-MM-DD) or null") from None
        office = Office(
            _text(entry, "id", where),
            _text(entry, "name", where),
            _text(entry, "code", where),
            parent,
            tuple(units),
            due_soon,
            opened_on,
        )
        if "/" in office.code or any(c.isspace() for c in office.code):
            raise OfficesError(f"{where}.code: no spaces or slashes (it is written after the '/' of ký hiệu)")
        if office.id in by_id:
            raise OfficesError(f"{where}.id: {office.id!r} is used twice")
        by_id[office.id] = office
    for office in by_id.values():
        if office.parent_id is not None and office.parent_id not in by_id:
            raise OfficesError(f"office {office.id}: parent_id {office.parent_id!r} is not an office")
    return Offices(by_id)


def load_offices(path: Path) -> Offices:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise OfficesError(f"{path}: cannot read offices ({exc})") from exc
    return parse_offices(raw)


@lru_cache(maxsize=4)
def _cached(path: Path) -> Offices:
    return load_offices(path)


def configured_offices(settings: Settings) -> Offices:
    """The offices named by the settings' offices file, read once per process; for start-up code."""
    return _cached(settings.offices_file)
