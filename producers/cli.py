"""`vanthu store republish|restore` and `vanthu audit verify`: called by deploy/cli.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from deploy.config.settings import Settings

# The parsers are built on every `vanthu` run; what they run is imported only when used.


async def _store(args: argparse.Namespace, settings: Settings) -> int:
    from deploy.config.db import connect
    from producers.replication import ReplicationError, republish, restore

    topic = args.topic or settings.events_topic
    bootstrap = args.bootstrap or settings.bootstrap
    # The owner's connection: restore sets the position sequence, republish only reads.
    conn = await connect(settings.dsn)
    try:
        if args.action == "republish":
            count = await republish(conn, bootstrap, topic, settings.partitions)
            print(f"republished {count} events to {topic} at {bootstrap}")
        else:
            count = await restore(conn, bootstrap, topic)
            print(f"restored {count} events from {topic} at {bootstrap}")
    except ReplicationError as exc:
        print(f"vanthu store {args.action}: {exc}", file=sys.stderr)
        return 1
    finally:
        await conn.close()
    return 0


def _witness(args: argparse.Namespace, settings: Settings) -> tuple[list[Any], Any] | None:
    """The signed statements (topic and file) and the public key to check them with; None: no key."""
    from pathlib import Path

    from producers.witness import load_public_key, public_path, read_file, read_topic

    candidates = [Path(args.public_key)] if args.public_key else []
    if settings.anchor_public_key_file:
        candidates.append(Path(settings.anchor_public_key_file))
    candidates += [public_path(settings.anchor_key_path), settings.anchor_key_path]
    key_path = next((p for p in candidates if p.exists()), None)
    if key_path is None:
        return None
    statements = []
    for f in args.witness_file or [str(settings.witness_path)]:
        statements += read_file(Path(f))
    if not args.no_topic:
        topic = args.anchors_topic or settings.anchors_topic_name
        try:
            statements += read_topic(settings.bootstrap, topic) or []
        except Exception as exc:  # Kafka away: the file copies still witness
            print(f"vanthu audit verify: {topic} unreadable ({exc}); the witness files only", file=sys.stderr)
    if not statements:
        return None
    return statements, load_public_key(key_path)


async def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from deploy.config.db import connect
    from producers.audit import describe, verify

    loop = asyncio.get_running_loop()
    witness = await loop.run_in_executor(None, _witness, args, settings)
    conn = await connect(settings.app_dsn)  # reading needs no more than the services' role
    try:
        if witness is None:
            report = await verify(conn)
        else:
            report = await verify(conn, witness=witness[0], public_key=witness[1])
    finally:
        await conn.close()
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if args.json else describe(report))
    return 0 if report.ok else 1


def store_command(args: argparse.Namespace) -> int:
    return asyncio.run(_store(args, Settings.from_env()))


def audit_command(args: argparse.Namespace) -> int:
    return asyncio.run(_audit(args, Settings.from_env()))


AuditAction = Callable[[argparse.Namespace], int]


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    audit_actions: Mapping[str, AuditAction] | None = None,
) -> None:
    """`store` and `audit`; `audit_actions` are the audit's actions that live above producers (compare)."""
    p = sub.add_parser("store", help="the event store: republish it to Kafka, restore it from Kafka")
    p.add_argument(
        "action",
        choices=["republish", "restore"],
        help="republish: write every stored event to an empty topic; "
        "restore: rebuild an empty store from a topic",
    )
    p.add_argument("--topic", help="topic (default: VANTHU_EVENTS_TOPIC)")
    p.add_argument("--bootstrap", help="Kafka bootstrap servers (default: VANTHU_KAFKA_BOOTSTRAP)")
    p.set_defaults(run=store_command)

    p = sub.add_parser("audit", help="tamper evidence of the event store")
    p.add_argument(
        "action",
        choices=["verify", *(audit_actions or {})],
        help="verify: recompute every hash and anchor, and hold them to the signed witnesses; "
        "compare: the store, the events topic and the read models, document by document",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--witness-file",
        action="append",
        help="a copy of the signed witness file (repeat; default: VANTHU_WITNESS_FILE)",
    )
    p.add_argument("--anchors-topic", help="topic of the signed anchors (default: VANTHU_ANCHORS_TOPIC)")
    p.add_argument("--no-topic", action="store_true", help="do not read the signed anchors from Kafka")
    p.add_argument(
        "--public-key", help="PEM public key of the anchors' signer (default: VANTHU_ANCHOR_PUBLIC_KEY_FILE)"
    )
    p.add_argument("--limit", type=int, default=20, help="with compare: differences shown")
    actions: dict[str, AuditAction] = {"verify": audit_command, **(audit_actions or {})}
    p.set_defaults(run=lambda args: actions[args.action](args))
