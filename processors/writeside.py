"""The write side as the processors use it: `producers.handler.handle` and its refusals, found lazily."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from schemas.envelope import SYSTEM_ACTOR, Actor

Handle = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class WriteSide:
    handle: Handle
    version_conflict: type[Exception]
    idempotency_key_reused: type[Exception]


def write_side() -> WriteSide | None:
    """The write side's interface, or None while producers/ does not provide it."""
    try:
        from producers.errors import IdempotencyKeyReused, VersionConflict
        from producers.handler import handle
    except ImportError:
        return None
    return WriteSide(handle, VersionConflict, IdempotencyKeyReused)


def system_actor(office_id: str) -> Actor:
    """The system acting for an office (the saga and the chaser)."""
    return Actor(user=SYSTEM_ACTOR.user, office=office_id, roles=SYSTEM_ACTOR.roles)
