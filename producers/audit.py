"""Audit verification: recompute every event hash, chain link and anchor; name the first break.

Events are streamed in position order through a server-side cursor. Each event must hash to its stored
hash from its stored previous hash and body (else: altered), link to its document's previous event
(else: missing or reordered), and say in its body what its row says (else: altered). Each anchor must
recompute from the events in its range and chain to the anchor before it, and every position it vouches
for must still hold an event (else: missing — this is what catches a deleted document).

Given the witnesses published outside the database (producers/witness.py), every signed anchor must be
in the store unchanged (else: the store and its anchors were rewritten, or the newest were deleted) and
the newest signed head must recompute from the events after the last anchor (else: truncated, when the
newest events are gone). A statement whose signature does not verify is a problem of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from deploy.config.db import Conn
from producers.anchoring import Anchor, _anchor, _block
from producers.hashing import GENESIS, AnchorHasher, event_hash
from producers.store import snapshot_matches
from producers.witness import Statement
from schemas.envelope import Envelope
from schemas.evolve import evolve
from schemas.state import initial_state

Kind = Literal["altered", "missing", "reordered", "inserted", "anchor", "truncated", "witness", "snapshot"]
MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class Problem:
    kind: Kind
    position: int  # where in the global order the break shows
    detail: str
    stream_id: str | None = None
    version: int | None = None


@dataclass
class AuditReport:
    events: int = 0
    documents: int = 0
    anchors: int = 0
    unanchored: int = 0  # events after the last anchor: chain-checked only
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0  # found beyond MAX_PROBLEMS
    seconds: float = 0.0
    witnessed: int | None = None  # signed statements checked (None: no witness given)
    witnessed_up_to: int = 0  # the last position the newest signed head vouches for
    head_signed_at: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "documents": self.documents,
            "anchors": self.anchors,
            "unanchored": self.unanchored,
            "first": None if self.first is None else asdict(self.first),
            "problems": [asdict(p) for p in self.problems],
            "more_problems": self.more_problems,
            "seconds": round(self.seconds, 3),
            "witnessed": self.witnessed,
            "witnessed_up_to": self.witnessed_up_to,
            "head_signed_at": self.head_signed_at,
        }


class _Blocks:
    """Walks the anchors alongside the events."""

    def __init__(self, anchors: list[Anchor], report: _Collector) -> None:
        self.anchors, self.report, self.i = anchors, report, 0
        self.hasher: AnchorHasher | None = None
        self.expected_next = 0
        self.skipped: frozenset[int] = frozenset()
        self.prev_hash = GENESIS
        self._open()

    def _open(self) -> None:
        if self.i >= len(self.anchors):
            self.hasher = None
            return
        a = self.anchors[self.i]
        expected_first = 1 if self.i == 0 else self.anchors[self.i - 1].last_position + 1
        if a.first_position != expected_first or a.seq != self.i + 1:
            self.report.add("anchor", a.first_position, f"anchor {a.seq}: does not follow anchor {self.i}")
        if a.prev_hash != self.prev_hash:
            self.report.add(
                "anchor", a.first_position, f"anchor {a.seq}: not chained to the anchor before it"
            )
        self.hasher = AnchorHasher(a.prev_hash, a.first_position, a.last_position, a.skipped)
        self.skipped = frozenset(a.skipped)
        self.expected_next = a.first_position

    def _close(self) -> None:
        a = self.anchors[self.i]
        assert self.hasher is not None
        self._gap_to(a.last_position + 1)
        if self.hasher.digest() != a.hash and not self.report.in_range(a.first_position, a.last_position):
            self.report.add(
                "anchor",
                a.first_position,
                f"anchor {a.seq} over positions {a.first_position}..{a.last_position}: hash does not match "
                "its events (an event was changed and its hashes recomputed)",
            )
        self.prev_hash = a.hash
        self.i += 1
        self._open()

    def _gap_to(self, position: int) -> None:
        for p in range(self.expected_next, position):
            if p not in self.skipped:
                a = self.anchors[self.i]
                self.report.add("missing", p, f"position {p}: no event, but anchor {a.seq} records one there")

    def see(self, position: int, hash_: bytes) -> bool:
        """Feed one event; False when it lies beyond the last anchor."""
        while self.hasher is not None and position > self.anchors[self.i].last_position:
            self._close()
        if self.hasher is None:
            return False
        self._gap_to(position)
        if position in self.skipped:
            self.report.add(
                "inserted", position, f"position {position}: an event that was not there when anchored"
            )
        self.hasher.add(position, hash_)
        self.expected_next = position + 1
        return True

    def finish(self) -> None:
        while self.hasher is not None:
            self._close()


class _Collector:
    def __init__(self, report: AuditReport) -> None:
        self.r = report
        self.positions: list[int] = []

    def add(
        self, kind: Kind, position: int, detail: str, stream_id: str | None = None, version: int | None = None
    ) -> None:
        if len(self.r.problems) >= MAX_PROBLEMS:
            self.r.more_problems += 1
            return
        self.r.problems.append(Problem(kind, position, detail, stream_id, version))
        self.positions.append(position)

    def in_range(self, first: int, last: int) -> bool:
        return any(first <= p <= last for p in self.positions)


def _text(value: str) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


class _Quoted(dict[str, bytes]):
    """Each stream id and type as a JSON string, encoded once (a document's events share them)."""

    def __missing__(self, key: str) -> bytes:
        self[key] = value = _text(key)
        return value


# occurred_at as canonical JSON writes it (isoformat, microseconds, +00:00), formatted by PostgreSQL
OCCURRED_AT_TEXT = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"


def _body_says(
    body: bytes,
    stream_id: bytes,
    version: int,
    event_id: str,
    type_: bytes,
    schema_version: int,
    occurred_at: str,
) -> bool:
    """Whether every column a read trusts says what the hashed body says (no parsing: canonical JSON
    sorts its keys, so the top level ends with event_id, idempotency_key, occurred_at, schema_version,
    stream_id, type, version, and a JSON string cannot hold an unescaped `,"event_id":"`). `stream_id` and
    `type_` come JSON-quoted, `event_id` and `occurred_at` as the text canonical JSON gives them."""
    tail = b',"occurred_at":"%s","schema_version":%d,"stream_id":%s,"type":%s,"version":%d}' % (
        occurred_at.encode(),
        schema_version,
        stream_id,
        type_,
        version,
    )
    if not body.endswith(tail):
        return False
    head = body[: -len(tail)]
    at = head.rfind(b',"event_id":"')
    return at >= 0 and head.startswith(b',"event_id":"%s","idempotency_key":' % event_id.encode(), at)


async def verify(
    conn: Conn,
    fetch: int = 5000,
    witness: Sequence[Statement] | None = None,
    public_key: Ed25519PublicKey | None = None,
) -> AuditReport:
    """Check the whole store, and against `witness` (statements signed by `public_key`) when given;
    `conn` may be the services' role (it only reads)."""
    started = time.perf_counter()
    report = AuditReport()
    found = _Collector(report)
    anchors = [_anchor(r) for r in await conn.fetch("SELECT * FROM anchors ORDER BY seq")]
    report.anchors = len(anchors)
    blocks = _Blocks(anchors, found)
    # stream_id -> (version, hash, position) of the last event seen, or a pending gap
    last: dict[str, tuple[int, bytes, int]] = {}
    gaps: dict[str, int] = {}  # stream_id -> index into problems of a "missing" that may be a reorder
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        cursor = await conn.cursor(
            "SELECT position, stream_id, version, body, prev_hash, hash, event_id::text, type, "
            f"schema_version, {OCCURRED_AT_TEXT} FROM events ORDER BY position"
        )
        quoted = _Quoted()
        while rows := await cursor.fetch(fetch):  # a page at a time: no await per row
            for position, stream_id, version, body, prev_hash, stored, event_id, type_, schema, at in rows:
                report.events += 1
                if not blocks.see(position, stored):
                    report.unanchored += 1
                if event_hash(prev_hash, body) != stored:
                    found.add(
                        "altered",
                        position,
                        f"{stream_id} v{version} at position {position}: its content does not match its hash",
                        stream_id,
                        version,
                    )
                elif not _body_says(body, quoted[stream_id], version, event_id, quoted[type_], schema, at):
                    found.add(
                        "altered",
                        position,
                        f"{stream_id} v{version} at position {position}: its row (stream, version, event id, "
                        "type, schema version or occurred_at) differs from its hashed body",
                        stream_id,
                        version,
                    )
                before = last.get(stream_id)
                expected = 1 if before is None else before[0] + 1
                if version == expected:
                    if prev_hash != (GENESIS if before is None else before[1]):
                        found.add(
                            "altered",
                            position,
                            f"{stream_id} v{version} at position {position}: "
                            f"does not chain to v{version - 1}",
                            stream_id,
                            version,
                        )
                elif version > expected:
                    gaps[stream_id] = len(report.problems)
                    found.add(
                        "missing",
                        position,
                        f"{stream_id}: v{expected}..v{version - 1} missing before v{version} "
                        f"at position {position}",
                        stream_id,
                        expected,
                    )
                else:
                    i = gaps.pop(stream_id, None)
                    assert before is not None  # version < expected means an earlier event was seen
                    detail = (
                        f"{stream_id}: v{version} at position {position} comes after v{before[0]} "
                        f"at position {before[2]}"
                    )
                    if i is not None and i < len(report.problems):
                        gap = report.problems[i]
                        report.problems[i] = Problem("reordered", gap.position, detail, stream_id, version)
                    else:
                        found.add("reordered", position, detail, stream_id, version)
                    continue  # keep the chain at the later version
                last[stream_id] = (version, stored, position)
    blocks.finish()
    await _check_snapshots(conn, found)
    if witness is not None:
        await _check_witness(conn, witness, public_key, anchors, found)
    report.documents = len(last)
    report.problems.sort(key=lambda p: p.position)
    report.seconds = time.perf_counter() - started
    return report


async def _check_snapshots(conn: Conn, found: _Collector) -> None:
    """Every snapshot must be its stream folded up to its version, and name that version's hash."""
    snaps = await conn.fetch(
        "SELECT stream_id, version, state, hash FROM snapshots ORDER BY stream_id, version"
    )
    by_stream: dict[str, list[Any]] = {}
    for s in snaps:
        by_stream.setdefault(s["stream_id"], []).append(s)
    for stream_id, kept in by_stream.items():
        rows = await conn.fetch(
            "SELECT position, version, body, hash FROM events WHERE stream_id = $1 AND version <= $2 "
            "ORDER BY version",
            stream_id,
            kept[-1]["version"],
        )
        at = {r["version"]: r for r in rows}
        state, folded = initial_state(stream_id), 0
        for snap in kept:
            event = at.get(snap["version"])
            where = f"{stream_id}: the snapshot at v{snap['version']}"
            if event is None:
                found.add("snapshot", 0, f"{where} has no event at its version", stream_id, snap["version"])
                continue
            for r in rows[folded:]:
                if r["version"] > snap["version"]:
                    break
                state, folded = evolve(state, Envelope.from_json(r["body"])), folded + 1
            if bytes(snap["hash"]) != bytes(event["hash"]):
                found.add(
                    "snapshot",
                    event["position"],
                    f"{where} names a hash its event does not have",
                    stream_id,
                    snap["version"],
                )
            elif not snapshot_matches(snap["state"], state):
                found.add(
                    "snapshot",
                    event["position"],
                    f"{where} is not its events folded up to that version (the snapshot was altered)",
                    stream_id,
                    snap["version"],
                )


async def _check_witness(
    conn: Conn,
    statements: Sequence[Statement],
    public_key: Ed25519PublicKey | None,
    anchors: list[Anchor],
    found: _Collector,
) -> None:
    report = found.r
    report.witnessed = len(statements)
    valid: list[Statement] = []
    for s in statements:
        if public_key is None or not s.valid(public_key):
            found.add(
                "witness",
                s.anchor.first_position,
                f"{s.kind} {s.anchor.seq} signed at {s.at}: its signature does not verify with the key",
            )
        else:
            valid.append(s)
    stored = {a.seq: a for a in anchors}
    end = int(await conn.fetchval("SELECT coalesce(max(position), 0) FROM events"))
    seen: set[tuple[int, bytes]] = set()
    for s in valid:
        a = s.anchor
        if s.kind != "anchor" or (a.seq, a.hash) in seen:
            continue
        seen.add((a.seq, a.hash))
        mine = stored.get(a.seq)
        where = f"anchor {a.seq} over positions {a.first_position}..{a.last_position}"
        if end < a.last_position and (mine is None or mine != a):
            found.add(
                "truncated",
                max(end + 1, a.first_position),
                f"the newest events were removed: {where} ({a.event_count} events) was signed at {s.at}, "
                f"but the store's events now end at position {end}"
                + (" and its anchor is gone" if mine is None else " and its anchor was rewritten"),
            )
        elif mine is None:
            found.add("anchor", a.first_position, f"{where}, signed at {s.at}, is missing from the store")
        elif mine != a:
            found.add(
                "anchor",
                a.first_position,
                f"{where}: the store's anchor differs from the one signed at {s.at} "
                "(events and anchors were rewritten in the database)",
            )
    heads = [s for s in valid if s.kind == "head"]
    if not heads:
        return
    newest = max(heads, key=lambda s: (s.anchor.last_position, s.at))
    h = newest.anchor
    report.witnessed_up_to, report.head_signed_at = h.last_position, newest.at
    base = stored.get(h.seq - 1)
    if h.seq > 1 and (base is None or base.hash != h.prev_hash) and (h.seq - 1, h.prev_hash) not in seen:
        found.add(
            "anchor",
            h.first_position,
            f"the head signed at {newest.at} extends anchor {h.seq - 1}, which the store "
            + ("lacks" if base is None else "holds with a different hash"),
        )
    if h.last_position < h.first_position:
        return
    now, _ = await _block(conn, h.seq, h.first_position, h.last_position, h.prev_hash)
    if now.hash == h.hash:
        return
    gone = sorted(set(now.skipped) - set(h.skipped))
    vouched = f"the head signed at {newest.at} vouches for {h.event_count} events in positions " + (
        f"{h.first_position}..{h.last_position}"
    )
    if gone and gone[0] > end:
        found.add(
            "truncated",
            gone[0],
            f"the newest events were removed: {vouched}; positions {gone[0]}..{gone[-1]} ({len(gone)} "
            f"events) are gone and the store's events now end at position {end}",
        )
    elif gone:
        found.add("missing", gone[0], f"{vouched}; {len(gone)} of them are gone, the first at {gone[0]}")
    else:
        found.add(
            "altered" if set(now.skipped) == set(h.skipped) else "inserted",
            h.first_position,
            f"{vouched}; they no longer hash to it (changed, or inserted where none was)",
        )


def describe(report: AuditReport) -> str:
    head = (
        f"{report.events} events in {report.documents} documents, {report.anchors} anchors "
        f"({report.unanchored} events not yet anchored), checked in {report.seconds:.2f}s"
    )
    if report.witnessed is None:
        head += "; no witness checked (no public key or no published anchors)"
    else:
        head += (
            f"; {report.witnessed} signed statements checked, head signed at {report.head_signed_at} "
            f"vouches up to position {report.witnessed_up_to}"
        )
    first = report.first
    if first is None:
        return f"ok: {head}"
    lines = [
        f"BROKEN: {head}",
        f"first: {first.kind} at position {first.position}: {first.detail}",
    ]
    lines += [f"  {p.kind} at position {p.position}: {p.detail}" for p in report.problems[1:20]]
    extra = len(report.problems) - 20 + report.more_problems
    if extra > 0:
        lines.append(f"  … and {extra} more")
    return "\n".join(lines)
