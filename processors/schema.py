"""Where the read models live: the live schema's name, the projection's name, and the swap lock.

The API's queries and the projector's writers both name tables through these; nothing here writes.
"""

from __future__ import annotations

import re

LIVE_SCHEMA = "rm"
PROJECTION = "read_models"
# Every live batch holds this lock shared; a rebuild takes it exclusively to swap schemas under it.
SWAP_LOCK = 0x76616E7468_726D

_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def schema_name(name: str) -> str:
    """`name` if it is a plain lower-case identifier, safe to write into SQL as a schema name."""
    if not _SCHEMA.match(name):
        raise ValueError(f"schema: {name!r} is not a plain lower-case identifier")
    return name
