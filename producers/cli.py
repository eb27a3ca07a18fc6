"""`vanthu store republish|restore` and `vanthu audit verify`: called by deploy/cli.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

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


async def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from deploy.config.db import connect
    from producers.audit import describe, verify

    conn = await connect(settings.app_dsn)  # reading needs no more than the services' role
    try:
        report = await verify(conn)
    finally:
        await conn.close()
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if args.json else describe(report))
    return 0 if report.ok else 1


def store_command(args: argparse.Namespace) -> int:
    return asyncio.run(_store(args, Settings.from_env()))


def audit_command(args: argparse.Namespace) -> int:
    return asyncio.run(_audit(args, Settings.from_env()))


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    p.add_argument("action", choices=["verify"], help="verify: recompute every hash and anchor")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=audit_command)
