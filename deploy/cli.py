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

    from deploy.config.settings import Settings
    from deploy.migrate import migrate_dsn

    applied = asyncio.run(migrate_dsn(Settings.from_env().dsn))
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def _settings(args: argparse.Namespace) -> int:
    from deploy.config.settings import documented

    for name, default, doc in documented():
        print(f"{name}\n    default: {default}\n    {doc}")
    return 0


def _schemas(args: argparse.Namespace) -> int:
    from schemas.export import main as export_main

    return int(export_main([args.dir]) or 0)


def _token(args: argparse.Namespace) -> int:
    from api.auth import CLEARANCES, ROLES, issue_token
    from deploy.config.settings import Settings

    bad = [r for r in args.role if r not in ROLES]
    if bad:
        print(f"vanthu: unknown role {', '.join(bad)}; roles are {', '.join(ROLES)}", file=sys.stderr)
        return 2
    if args.clearance and args.clearance not in CLEARANCES:
        print(f"vanthu: clearance must be one of {', '.join(CLEARANCES)}", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    from deploy.config.offices import load_offices

    if args.office not in load_offices(settings.offices_file):
        print(f"vanthu: office {args.office!r} is not in {settings.offices_file}", file=sys.stderr)
        return 2
    if args.hours * 3600 > settings.jwt_max_lifetime_hours * 3600:
        print(f"vanthu: tokens live at most {settings.jwt_max_lifetime_hours} hours", file=sys.stderr)
        return 2
    print(
        issue_token(
            settings,
            office=args.office,
            roles=args.role,
            user=args.user,
            clearance=args.clearance,
            ttl_seconds=int(args.hours * 3600),
        )
    )
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    import asyncio

    from deploy.config.settings import Settings
    from processors.rebuild import Progress, rebuild

    s = Settings.from_env()

    def show(p: Progress) -> None:
        print(f"\r{p}   ", end="", file=sys.stderr, flush=True)

    result = asyncio.run(
        rebuild(
            s.dsn, s.bootstrap, s.events_topic, swap=not args.no_swap, keep_old=args.keep_old, progress=show
        )
    )
    print(file=sys.stderr)
    where = "swapped in as rm" if result.swapped else f"left in schema {result.schema}"
    print(f"rebuilt {result.events} events in {result.seconds:.1f}s; {where}")
    return 0


def _deadletters(args: argparse.Namespace) -> int:
    import asyncio

    from deploy.config.db import connect
    from deploy.config.settings import Settings
    from processors.deadletters import (
        SettleError,
        first_open_letter,
        letter_name,
        list_dead_letters,
        parse_letter,
        retry,
        settle,
    )
    from processors.saga import failed_tasks, redrive
    from producers.facts import append_fact
    from schemas.envelope import Actor
    from schemas.events import DeadLetterSettled

    settings = Settings.from_env()
    operator = Actor(user=args.operator, office="", roles=("system", "operator"))

    async def record(
        action: str, letter: str, document: str | None, version: int | None, event: str | None
    ) -> None:
        """The operator's word, in the document's own history (written as the services' role)."""
        if document is None:
            print("  (not recorded in a history: the letter names no document)")
            return
        app = await connect(settings.app_dsn)
        try:
            fact = DeadLetterSettled(
                action=action,
                letter=letter,
                version=version,
                event_id=event,
                reason=args.reason,
                operator=args.operator,
            )
            appended = await append_fact(app, document, fact, operator)
        finally:
            await app.close()
        if appended is None:
            print(f"  (not recorded in a history: the store has no document {document})")
        else:
            print(
                f"  recorded in {document}'s history as v{appended.envelope.version} "
                f"(position {appended.position})"
            )

    async def run() -> int:
        conn = await connect(settings.dsn)
        try:
            if args.action in ("park", "skip"):
                if not args.reason:
                    print(f"vanthu deadletters {args.action}: --reason is required", file=sys.stderr)
                    return 2
                if args.letter:
                    letter = parse_letter(args.letter)
                elif args.document:
                    found = await first_open_letter(conn, args.document)
                    if found is None:
                        print(f"vanthu deadletters: {args.document} has no open dead letter", file=sys.stderr)
                        return 1
                    letter = found
                else:
                    print(f"vanthu deadletters {args.action}: name --letter or --document", file=sys.stderr)
                    return 2
                try:
                    done = await settle(conn, letter, args.action, args.reason)
                except SettleError as exc:
                    print(f"vanthu deadletters {args.action}: {exc}", file=sys.stderr)
                    return 1
                print(
                    f"{done.action} {letter_name(letter)} ({done.document_id or '-'} "
                    f"v{done.version or '?'}); then resolved {done.then.resolved}, "
                    f"still open {done.then.still_open}"
                )
                await record(args.action, letter_name(letter), done.document_id, done.version, done.event_id)
                return 0 if done.then.still_open == 0 else 1
            if args.action == "retry":
                result = await retry(conn, document_id=args.document)
                print(f"resolved {result.resolved}, still open {result.still_open}")
                if args.reason and args.document:
                    await record("retry", "-", args.document, None, None)
                return 0 if result.still_open == 0 else 1
            if args.action == "redrive":
                count = await redrive(conn, args.task)
                print(f"queued {count} failed saga task(s) again; the processors' saga runs them")
                return 0 if count else 1
            rows = await list_dead_letters(conn, None if args.all else "open")
            for r in rows:
                print(
                    f"{r['topic']}:{r['partition']}@{r['offset']}  {r['status']:<8}  {r['reason']:<11}  "
                    f"{r['document_id'] or '-'} v{r['version'] or '?'} {r['event_type'] or ''}  {r['error']}"
                )
            print(f"{len(rows)} dead letter(s)")
            tasks = await failed_tasks(conn)
            for t in tasks:
                print(
                    f"task {t['id']}  failed    {t['kind']:<16}  {t['key']}  after {t['attempts']} attempts "
                    f"(redriven {t['redriven']}x): {t['error']}"
                )
            print(f"{len(tasks)} failed saga task(s) (vanthu deadletters redrive [--task ID])")
            return 0
        finally:
            await conn.close()

    try:
        return asyncio.run(run())
    except ValueError as exc:
        print(f"vanthu deadletters: {exc}", file=sys.stderr)
        return 2


def _compare(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from deploy.config.db import connect
    from deploy.config.settings import Settings
    from processors.compare import compare, describe

    s = Settings.from_env()

    async def run() -> int:
        conn = await connect(s.app_dsn)  # reads only
        try:
            report = await compare(conn, s.bootstrap, s.events_topic)
        finally:
            await conn.close()
        print(
            json.dumps(report.to_dict(), indent=2, ensure_ascii=False)
            if args.json
            else describe(report, args.limit)
        )
        return 0 if report.ok else 1

    return asyncio.run(run())


def _backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from deploy.backup import backup, restore
    from deploy.config.settings import Settings

    settings = Settings.from_env()
    folder = Path(args.dir).resolve()
    if args.command == "backup":
        return backup(settings, folder, args.synchronous)
    seconds = restore(settings, folder, args.to)
    print(f"restored from {folder} and started in {seconds:.1f}s")
    return 0


def _processor(args: argparse.Namespace) -> int:
    from processors.worker import main as worker_main

    return worker_main()


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

    p = sub.add_parser("token", help="print a signed local (HS256) token for the API")
    p.add_argument("--office", required=True, help="office id, e.g. tu-hcm")
    p.add_argument(
        "--role", required=True, action="append", help="clerk, specialist, leader, auditor, admin (repeat)"
    )
    p.add_argument("--user", help="user id (default: ROLE@OFFICE)")
    p.add_argument("--clearance", help="mat, toi_mat or tuyet_mat")
    p.add_argument("--hours", type=float, default=12, help="lifetime in hours (default 12)")
    p.set_defaults(run=_token)

    p = sub.add_parser("migrate", help="apply pending database migrations")
    p.set_defaults(run=_migrate)

    p = sub.add_parser("processor", help="run one read-model processor worker (faust) in the foreground")
    p.set_defaults(run=_processor)

    p = sub.add_parser("rebuild", help="replay the events topic into fresh read models, then swap them in")
    p.add_argument("--no-swap", action="store_true", help="build into a new schema and leave rm as it is")
    p.add_argument("--keep-old", action="store_true", help="keep the replaced schema as rm_old_<time>")
    p.set_defaults(run=_rebuild)

    p = sub.add_parser(
        "deadletters", help="records the processors could not decode or apply, and failed saga tasks"
    )
    p.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "retry", "park", "skip", "redrive"],
        help="list (default): open letters and failed saga tasks; retry: apply open letters again; "
        "park: set a letter aside so its document's later events go on; skip: the read model takes the "
        "letter's version without its change; redrive: queue failed saga tasks again",
    )
    p.add_argument("--all", action="store_true", help="with list: resolved, parked and skipped ones too")
    p.add_argument("--document", help="with retry: only this document; with park/skip: its blocking letter")
    p.add_argument("--letter", help="with park/skip: the letter, as listed (topic:partition@offset)")
    p.add_argument("--reason", help="with park/skip (required) and retry: recorded in the document's history")
    p.add_argument("--operator", default="operator", help="who decides (recorded with the reason)")
    p.add_argument("--task", type=int, help="with redrive: only this task id")
    p.set_defaults(run=_deadletters)

    from producers.cli import add_parsers as add_producer_parsers

    add_producer_parsers(sub, {"compare": _compare})  # store republish|restore, audit verify|compare

    p = sub.add_parser(
        "backup", help="base backup plus streamed WAL into a folder; runs until stopped (pg_basebackup)"
    )
    p.add_argument("--dir", required=True, help="the backup folder (base/ and wal/ in it)")
    p.add_argument(
        "--synchronous",
        action="store_true",
        help="acknowledge commits only once their WAL is in the folder (no acknowledged action is lost; "
        "commits wait while the backup is down)",
    )
    p.set_defaults(run=_backup)

    p = sub.add_parser("restore", help="rebuild the lost PostgreSQL data folder from a backup and start it")
    p.add_argument("--dir", required=True, help="the backup folder")
    p.add_argument("--to", help="a point in time to stop at (ISO 8601 with a zone); default: the end")
    p.set_defaults(run=_backup)

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
