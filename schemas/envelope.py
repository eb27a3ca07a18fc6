"""The event envelope: what every stored and published event looks like on the wire.

One canonical JSON form (UTF-8, sorted keys, no insignificant whitespace, non-ASCII kept as is) is used
both for storage/publishing and for the audit hash chain, so there is exactly one byte string per event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID


class EnvelopeError(ValueError):
    """A serialised envelope is malformed; the message names the field and why."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused the event: a user acting for an office with some roles (or the system)."""

    user: str
    office: str
    roles: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user, "office": self.office, "roles": list(self.roles)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Actor:
        user, office, roles = raw.get("user"), raw.get("office"), raw.get("roles", [])
        if not isinstance(user, str) or not user:
            raise EnvelopeError("actor.user: must be a non-empty string")
        if not isinstance(office, str):
            raise EnvelopeError("actor.office: must be a string")
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise EnvelopeError("actor.roles: must be a list of strings")
        return cls(user=user, office=office, roles=tuple(roles))


SYSTEM_ACTOR = Actor(user="system", office="", roles=("system",))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is UTC:  # what a parsed event carries ("+00:00"): already normalised
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise EnvelopeError("occurred_at: must be timezone-aware")
    return moment.astimezone(UTC)


def _format_instant(moment: datetime) -> str:
    # Fixed precision and a fixed offset so the same instant always has the same bytes.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_json(value: Any) -> bytes:
    """The one canonical JSON encoding used for events and hashing."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Envelope:
    """A stored event: identity, position in its document's stream, provenance and payload."""

    event_id: UUID
    stream_id: str  # the document id
    version: int  # 1, 2, … within the stream
    type: str  # event type name, e.g. "DocumentRegistered"
    schema_version: int
    occurred_at: datetime  # normalised to UTC
    actor: Actor
    data: Mapping[str, Any] = field(default_factory=dict)
    causation_id: UUID | None = None
    correlation_id: UUID | None = None
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        if not self.stream_id:
            raise EnvelopeError("stream_id: must be non-empty")
        if self.version < 1:
            raise EnvelopeError("version: must be >= 1")
        if not self.type:
            raise EnvelopeError("type: must be non-empty")
        if self.schema_version < 1:
            raise EnvelopeError("schema_version: must be >= 1")
        object.__setattr__(self, "occurred_at", _utc(self.occurred_at))

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": str(self.event_id),
            "stream_id": self.stream_id,
            "version": self.version,
            "type": self.type,
            "schema_version": self.schema_version,
            "occurred_at": _format_instant(self.occurred_at),
            "actor": self.actor.to_dict(),
            "causation_id": None if self.causation_id is None else str(self.causation_id),
            "correlation_id": None if self.correlation_id is None else str(self.correlation_id),
            "idempotency_key": self.idempotency_key,
            "data": dict(self.data),
        }

    def canonical_bytes(self) -> bytes:
        """The bytes the hash chain is computed over (identical to `to_json`)."""
        return canonical_json(self.to_dict())

    def to_json(self) -> bytes:
        return self.canonical_bytes()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        try:
            parsed = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise EnvelopeError(f"envelope: not valid UTF-8 JSON ({exc})") from exc
        if not isinstance(parsed, dict):
            raise EnvelopeError("envelope: must be a JSON object")
        return cls.from_dict(parsed)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Envelope:
        return cls(
            event_id=_uuid(raw, "event_id"),
            stream_id=_str(raw, "stream_id"),
            version=_int(raw, "version"),
            type=_str(raw, "type"),
            schema_version=_int(raw, "schema_version"),
            occurred_at=_instant(raw, "occurred_at"),
            actor=Actor.from_dict(_object(raw, "actor")),
            data=_object(raw, "data"),
            causation_id=_optional_uuid(raw, "causation_id"),
            correlation_id=_optional_uuid(raw, "correlation_id"),
            idempotency_key=_optional_str(raw, "idempotency_key"),
        )


def _str(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str):
        raise EnvelopeError(f"{name}: must be a string")
    return value


def _optional_str(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, str):
        raise EnvelopeError(f"{name}: must be a string or null")
    return value


def _int(raw: Mapping[str, Any], name: str) -> int:
    value = raw.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise EnvelopeError(f"{name}: must be an integer")
    return value


def _object(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    if not isinstance(value, dict):
        raise EnvelopeError(f"{name}: must be an object")
    return value


def _uuid(raw: Mapping[str, Any], name: str) -> UUID:
    try:
        return UUID(_str(raw, name))
    except ValueError as exc:
        raise EnvelopeError(f"{name}: must be a UUID") from exc


def _optional_uuid(raw: Mapping[str, Any], name: str) -> UUID | None:
    return None if raw.get(name) is None else _uuid(raw, name)


def _instant(raw: Mapping[str, Any], name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(_str(raw, name))
    except ValueError as exc:
        raise EnvelopeError(f"{name}: must be an ISO 8601 instant") from exc
    if moment.tzinfo is None:
        raise EnvelopeError(f"{name}: must carry a UTC offset")
    return moment
