"""The `vanthu` command: one entry point, subcommands imported only when used."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from deploy.procs import StackError


def _stack(args: argparse.Namespace) -> int:
    from deploy.stack import Stack

    stack = Stack()
    match args.action:
        case "up":
            stack.up()
            if args.cluster:
                stack.cluster_up()
        case "down":
            stack.down()
        case "status":
            rows = stack.status()
            width = max(len(r[0]) for r in rows)
            for name, where, state in rows:
                print(f"{name:<{width}}  {where:<22}  {state}")
        case "logs":
            print(stack.logs(args.name, args.lines))
        case "reset":
            stack.reset()
        case "cluster-up":
            stack.cluster_up()
        case "cluster-down":
            stack.cluster_down()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    import asyncio

    from deploy.migrate import migrate_dsn
    from deploy.settings import Settings

    applied = asyncio.run(migrate_dsn(Settings.from_env().dsn))
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def _settings(args: argparse.Namespace) -> int:
    from deploy.settings import documented

    for name, default, doc in documented():
        print(f"{name}\n    default: {default}\n    {doc}")
    return 0


def _schemas(args: argparse.Namespace) -> int:
    from schemas.export import main as export_main

    return int(export_main([args.dir]) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vanthu", description="vanthu: documents and deadlines, event-sourced."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("stack", help="the local Kafka and PostgreSQL")
    p.add_argument(
        "action",
        choices=["up", "down", "status", "logs", "reset", "cluster-up", "cluster-down"],
        help="up: start (idempotent); down: stop all it started; status; logs; reset: down and delete data; "
        "cluster-up/-down: the 3-broker fault-test cluster",
    )
    p.add_argument("name", nargs="?", help="with logs: one log (postgres, kafka, kafka-1, api, ...)")
    p.add_argument("-n", "--lines", type=int, default=40, help="with logs: lines per log")
    p.add_argument("--cluster", action="store_true", help="with up: also start the 3-broker cluster")
    p.set_defaults(run=_stack)

    p = sub.add_parser("migrate", help="apply pending database migrations")
    p.set_defaults(run=_migrate)

    p = sub.add_parser("settings", help="list every VANTHU_ environment variable with its default")
    p.set_defaults(run=_settings)

    p = sub.add_parser("schemas", help="event and command contract")
    p.add_argument("action", choices=["export"], help="export: write JSON Schema files")
    p.add_argument("dir", help="target folder")
    p.set_defaults(run=_schemas)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except StackError as exc:
        print(f"vanthu: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
