"""The store's hashes: one chain per document, and anchors over blocks of global positions."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence

GENESIS = bytes(32)  # the "previous hash" of a document's first event
_POSITION = struct.Struct(">q")


def event_hash(prev_hash: bytes, body: bytes) -> bytes:
    """sha256(previous event's hash || canonical bytes): altering, dropping or moving an event breaks it."""
    return hashlib.sha256(prev_hash + body).digest()


class AnchorHasher:
    """Hash of one anchor block: the previous anchor, the block's range and holes, then every event."""

    def __init__(self, prev_hash: bytes, first: int, last: int, skipped: Sequence[int]) -> None:
        self._h = hashlib.sha256(prev_hash)
        self._h.update(_POSITION.pack(first) + _POSITION.pack(last) + _POSITION.pack(len(skipped)))
        for position in skipped:
            self._h.update(_POSITION.pack(position))
        self.count = 0

    def add(self, position: int, hash_: bytes) -> None:
        self._h.update(_POSITION.pack(position) + hash_)
        self.count += 1

    def digest(self) -> bytes:
        return self._h.digest()


def anchor_hash(
    prev_hash: bytes, first: int, last: int, skipped: Sequence[int], events: Iterable[tuple[int, bytes]]
) -> bytes:
    hasher = AnchorHasher(prev_hash, first, last, skipped)
    for position, hash_ in events:
        hasher.add(position, hash_)
    return hasher.digest()
