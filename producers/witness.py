"""The anchors' witnesses outside the database: every anchor, and a running head every few seconds,
signed with an Ed25519 key the database never holds, published to a compacted Kafka topic and the
latest pair kept in a file the operator copies elsewhere.

Whoever can write the database can delete the newest events together with their anchors, or rewrite
events and recompute every hash and anchor; neither can produce a signature. `audit.verify` holds the
store against the signed statements and names what disagrees. The witness runs on its own clock, so
anchors and heads are still signed and filed while Kafka is down (they reach the topic once it is back).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from deploy.config.db import Conn, connect
from producers.anchoring import Anchor, _anchor, anchor, head, settled_position
from schemas.envelope import canonical_json

log = logging.getLogger("vanthu.witness")

StatementKind = Literal["anchor", "head"]


@dataclass(frozen=True, slots=True)
class Statement:
    """One signed anchor, or the head: an unwritten anchor over the settled events after the last one."""

    kind: StatementKind
    anchor: Anchor
    at: str  # when it was signed (ISO 8601, UTC)
    signature: bytes = b""

    def payload(self) -> bytes:
        """The bytes signed: everything but the signature, canonical JSON."""
        a = self.anchor
        return canonical_json(
            {
                "kind": self.kind,
                "seq": a.seq,
                "first_position": a.first_position,
                "last_position": a.last_position,
                "event_count": a.event_count,
                "skipped": list(a.skipped),
                "prev_hash": a.prev_hash.hex(),
                "hash": a.hash.hex(),
                "at": self.at,
            }
        )

    @property
    def key(self) -> bytes:
        """The topic's compaction key: every anchor kept, only the newest head."""
        return b"head" if self.kind == "head" else b"anchor:%d" % self.anchor.seq

    def to_json(self) -> bytes:
        raw = json.loads(self.payload())
        raw["signature"] = self.signature.hex()
        return canonical_json(raw)

    @classmethod
    def from_json(cls, raw: bytes | str) -> Statement:
        d = json.loads(raw)
        a = Anchor(
            int(d["seq"]),
            int(d["first_position"]),
            int(d["last_position"]),
            int(d["event_count"]),
            tuple(int(p) for p in d["skipped"]),
            bytes.fromhex(d["prev_hash"]),
            bytes.fromhex(d["hash"]),
        )
        if d["kind"] not in ("anchor", "head"):
            raise ValueError(f"unknown statement kind {d['kind']!r}")
        return cls(d["kind"], a, str(d["at"]), bytes.fromhex(d["signature"]))

    def signed(self, key: Ed25519PrivateKey) -> Statement:
        return Statement(self.kind, self.anchor, self.at, key.sign(self.payload()))

    def valid(self, public: Ed25519PublicKey) -> bool:
        try:
            public.verify(self.signature, self.payload())
        except InvalidSignature:
            return False
        return True


def ensure_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at `path`, made (mode 0600, public half beside it as <path>.pub) if missing."""
    if path.exists():
        return load_private_key(path)
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(pem)
    try:
        os.link(tmp, path)  # whole or not at all, and never over a key another process made first
    except FileExistsError:
        return load_private_key(path)
    finally:
        tmp.unlink()
    _write_atomic(public_path(path), public_pem(key.public_key()))
    log.info("witness: made a new signing key %s (public key %s)", path, public_path(path))
    return key


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def public_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".pub")


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM file holding either half of the pair."""
    data = path.read_bytes()
    if b"PRIVATE KEY" in data:
        return load_private_key(path).public_key()
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key


def write_file(path: Path, statements: Iterable[Statement]) -> None:
    """The newest anchor and head, replaced atomically so a copy is never half-written."""
    latest: dict[str, Any] = {}
    for s in statements:
        latest[s.kind] = json.loads(s.to_json())
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps(latest, indent=2, sort_keys=True).encode() + b"\n")


def read_file(path: Path) -> list[Statement]:
    if not path.exists():
        return []
    raw = json.loads(path.read_bytes())
    return [Statement.from_json(json.dumps(raw[k])) for k in ("anchor", "head") if k in raw]


def read_topic(bootstrap: str, topic: str, timeout_s: float = 30.0) -> list[Statement] | None:
    """Every statement on the topic, oldest first (None: no such topic)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, allow_auto_create_topics=False
    )
    try:
        found = consumer.partitions_for_topic(topic)
        if not found:
            return None
        parts = [TopicPartition(topic, p) for p in sorted(found)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        out: list[Statement] = []
        started = time.monotonic()
        while any(consumer.position(tp) < end[tp] for tp in parts):
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"reading {topic}: not at its end after {timeout_s}s")
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    if record.offset < end[TopicPartition(record.topic, record.partition)]:
                        out.append(Statement.from_json(record.value))
        return out
    finally:
        consumer.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass
class Witness:
    """Anchors the store, signs every anchor and the head, files them and publishes them."""

    dsn: str
    bootstrap: str
    topic: str
    file: Path
    key: Ed25519PrivateKey
    interval_s: float = 2.0  # a head at least this often, events or not
    events_topic: str | None = None  # the anchors topic is made as durable as this one
    anchor_age_s: float = 60.0
    rounds: int = 0
    _published_seq: int = 0  # anchors up to here are on the topic
    _pending: dict[bytes, Statement] = field(default_factory=dict)
    _producer: Any = None
    _topic_ready: bool = False

    async def run(self, stop: asyncio.Event) -> None:
        conn: Any = None
        try:
            while not stop.is_set():
                try:
                    if conn is None or conn.is_closed():
                        conn = await connect(self.dsn, server_settings={"application_name": "vanthu-witness"})
                    await self.once(conn)
                except Exception as exc:  # Postgres or Kafka away: the next round tries again
                    log.warning("witness: %s: %s", type(exc).__name__, exc)
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            await conn.close()
                        conn = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval_s)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
            if self._producer is not None:
                with contextlib.suppress(Exception):
                    self._producer.close(timeout=5)

    async def once(self, conn: Conn) -> list[Statement]:
        """One round: close due anchors, sign the new ones and the head, file them, publish what is
        pending. Returns the statements signed this round; a Kafka failure leaves them pending."""
        settled = await settled_position(conn)  # once a round: it stalls appenders for an instant
        if settled is not None:
            await anchor(conn, max_age_s=self.anchor_age_s, settled=settled)
        rows = await conn.fetch("SELECT * FROM anchors WHERE seq > $1 ORDER BY seq", self._published_seq)
        at = _now()
        signed = [Statement("anchor", _anchor(r), at).signed(self.key) for r in rows]
        current = None if settled is None else await head(conn, settled)
        if current is not None:
            signed.append(Statement("head", current, at).signed(self.key))
        latest = await conn.fetchrow("SELECT * FROM anchors ORDER BY seq DESC LIMIT 1")
        for s in signed:
            self._pending[s.key] = s
        filed = [s for s in signed if s.kind == "head"]
        if latest is not None:
            newest = next((s for s in signed if s.kind == "anchor" and s.anchor.seq == latest["seq"]), None)
            filed.insert(0, newest or Statement("anchor", _anchor(latest), at).signed(self.key))
        write_file(self.file, filed)
        if rows:
            self._published_seq = rows[-1]["seq"]
        self.rounds += 1
        await asyncio.get_running_loop().run_in_executor(None, self._publish)
        return signed

    def _ensure_topic(self) -> None:
        """Create the anchors topic (compacted) with the events topic's replication and min.insync.replicas:
        the witness must survive what the events survive. Without an events topic, the broker's default."""
        from producers.topics import durability, ensure_topic

        like = durability(self.bootstrap, self.events_topic) if self.events_topic else None
        replication, configs = like if like is not None else (-1, {})
        ensure_topic(self.bootstrap, self.topic, 1, replication, {"cleanup.policy": "compact", **configs})
        have = durability(self.bootstrap, self.topic)
        if like is not None and have is not None and have[0] < like[0]:
            log.warning(
                "witness: %s has replication %d, its events topic %s has %d: raise it with "
                "kafka-reassign-partitions",
                self.topic, have[0], self.events_topic, like[0],
            )  # fmt: skip

    def _publish(self) -> None:
        if not self._pending:
            return
        try:
            if self._producer is None:
                from producers.publishing import make_producer

                if not self._topic_ready:
                    self._ensure_topic()
                    self._topic_ready = True
                self._producer = make_producer(self.bootstrap, client_id="vanthu-witness")
            pending = list(self._pending.values())
            futures = [self._producer.send(self.topic, key=s.key, value=s.to_json()) for s in pending]
            self._producer.flush(timeout=15)
            for f in futures:
                f.get(timeout=15)
        except Exception:
            if self._producer is not None:
                with contextlib.suppress(Exception):
                    self._producer.close(timeout=1)
            self._producer = None
            raise
        for s in pending:
            if self._pending.get(s.key) is s:
                del self._pending[s.key]
