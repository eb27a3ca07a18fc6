"""Keyset cursors: the last row's sort key, opaque to clients, checked strictly when it comes back.

A cursor is base64url JSON `[list, key...]`: `list` names the list it pages (a cursor of the deadlines
is no cursor of the documents), the key the sort values of the last row shown. Anything else a client
sends back, edited or cut short, is a `BadCursor` (a 422 at the API), never a query error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

MAX_TEXT = 200  # longest text a key holds (ids)


class BadCursor(ValueError):
    """A cursor this API did not write, or one for another list."""


def encode(list_name: str, key: Sequence[Any]) -> str:
    values = [v.isoformat() if isinstance(v, date | datetime) else v for v in key]
    raw = json.dumps([list_name, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(list_name: str, cursor: str, kinds: Sequence[type]) -> tuple[Any, ...]:
    """The key of a cursor of `list_name`, each value of the kind given (date, datetime, str, int);
    a datetime or date may be null."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise BadCursor("cursor: not a cursor from this API (not base64url JSON)") from exc
    if not isinstance(raw, list) or len(raw) != len(kinds) + 1 or raw[0] != list_name:
        raise BadCursor(f"cursor: not a cursor of this list ({list_name})")
    return tuple(_value(v, kind) for v, kind in zip(raw[1:], kinds, strict=True))


def _value(value: Any, kind: type) -> Any:
    try:
        if kind is datetime:
            if value is None:
                return None
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise ValueError("no time zone")
            return moment
        if kind is date:
            return None if value is None else date.fromisoformat(value)
        if kind is int:
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62:
                return value
            raise ValueError("not an integer")
        if kind is str:
            if isinstance(value, str) and len(value) <= MAX_TEXT and "\x00" not in value:
                value.encode("utf-8")  # a lone surrogate cannot be sent to the database
                return value
            raise ValueError("not an id")
    except (ValueError, TypeError) as exc:
        raise BadCursor(f"cursor: not a cursor from this API ({exc})") from exc
    raise TypeError(f"kind: {kind} is not a cursor value kind")
